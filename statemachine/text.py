"""What users type that others will see: visible characters, graphemes, and the characters that
must never reach a shared screen.

Names and quiz texts are shown on a projected screen to a whole class. Three kinds of input
slip past a plain `strip()` there:

- text that renders as nothing: zero-width spaces, the Braille blank (U+2800), the Hangul
  fillers (U+3164, U+115F, U+1160, U+FFA0), lone combining marks;
- characters that scramble the layout around them: direction overrides and isolates, NUL and
  other C0/C1 controls, line and paragraph separators;
- lengths counted in code points, which refuse a family emoji (seven code points, one symbol
  on screen) long before a name of 24 letters.

Graphemes (what a reader sees as one character) come from the `regex` module's `\\X`, which
follows Unicode's segmentation rules (UAX #29), including emoji ZWJ sequences and flags.
"""

from __future__ import annotations

import unicodedata

import regex

__all__ = ["BLANKS", "first_layout_breaker", "graphemes", "has_visible", "refused_in_name", "visible_key"]

_GRAPHEME = regex.compile(r"\X")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
#: Default-ignorable code points (zero-width space and joiners, fillers, variation selectors).
_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")

#: Characters that draw nothing but are neither whitespace nor default-ignorable in Unicode.
BLANKS = frozenset("\u2800\u3164\u115f\u1160\uffa0\u180e")
#: Direction controls: embeddings, overrides, isolates and marks. They reorder what follows
#: them on the screen (a name can make the leaderboard read backwards).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SEPARATORS = frozenset("\u2028\u2029\x85")
#: Inside an emoji sequence these format characters are what joins it (a family, a pirate flag)
#: or spells a subdivision flag (tag characters); anywhere else they are refused.
_EMOJI_JOINERS = frozenset(["\u200d", *map(chr, range(0xE0020, 0xE0080))])


def graphemes(text: str) -> list[str]:
    """The user-perceived characters of `text` (extended grapheme clusters)."""
    return list(_GRAPHEME.findall(text))


def _draws_nothing(char: str) -> bool:
    category = unicodedata.category(char)
    return (
        char.isspace()
        or category[0] in "CM"  # controls/format/unassigned, and marks with no base
        or char in BLANKS
        or _IGNORABLE.match(char) is not None
    )


def has_visible(text: str) -> bool:
    """Whether `text` draws at least one character: not only spaces, blanks, fillers or marks."""
    return any(not _draws_nothing(char) for char in text)


def first_layout_breaker(text: str, *, newlines: bool = False) -> str | None:
    """The first character of `text` that breaks the layout of a shared screen (a control
    character, a direction control, a line separator; `\\n` and `\\t` only with `newlines`),
    or None."""
    for char in text:
        if char in "\n\t" and newlines:
            continue
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS or char in _SEPARATORS:
            return char
    return None


def refused_in_name(grapheme: str) -> str | None:
    """The first character of one grapheme of a name that a name may not hold, or None.

    Control, format, private-use and unassigned characters (category C*) are refused: they
    make names that look alike but differ. The exception is what builds an emoji: a zero-width
    joiner or tag characters inside a grapheme that holds a pictograph."""
    pictographic = _PICTOGRAPHIC.search(grapheme) is not None
    for char in grapheme:
        if unicodedata.category(char).startswith("C") and not (pictographic and char in _EMOJI_JOINERS):
            return char
    return None


def visible_key(text: str) -> str:
    """A comparison key under which texts that read the same are equal: NFC, case-folded,
    whitespace collapsed, invisible characters between letters (a zero-width space, a
    filler) dropped. Marks stay: they change the letter they sit on."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    kept = "".join(char for char in folded if char == "\u200d" or not (char in BLANKS or _IGNORABLE.match(char)))
    return " ".join(kept.split())
