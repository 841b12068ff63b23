"""Display names: one normal form, and a key for case-insensitive uniqueness.

Names are shown on a projected screen to a whole classroom and compared for `name_taken`, so
they are normalized before either: surrounding whitespace stripped, inner runs of whitespace
(tabs, newlines, non-breaking spaces) collapsed to one space, and Unicode NFC so that "é" typed
as one code point or as "e" plus an accent is the same name. Control and format characters
(Unicode category C*: zero-width spaces, direction overrides, unassigned code points) are
refused, because they make names that look alike but differ, or scramble the layout around
them; the one exception is the joiners inside an emoji sequence (a family, a flag). A name must
draw something (not only fillers such as U+3164), and its length is counted in graphemes.
"""

from __future__ import annotations

import re
import unicodedata

from statemachine.errors import NameInvalid
from statemachine.text import graphemes, has_visible, refused_in_name

__all__ = ["MAX_NAME_LENGTH", "name_key", "normalize_name"]

#: Longest accepted name, in graphemes (what a reader counts) after normalization; fits one
#: leaderboard line.
MAX_NAME_LENGTH = 24
#: Code points in one grapheme: the longest emoji sequences have about ten; more is marks
#: stacked to draw over the lines around it. With the grapheme count it bounds a name.
MAX_GRAPHEME_CODE_POINTS = 16
#: Letters, digits, punctuation and symbols of Latin (with Uzbek's modifier letters), Greek and
#: Cyrillic, less the combining marks among them: in a printable name made only of these each code
#: point is one grapheme that draws something, so the grapheme checks below cannot refuse it
#: and its length is its grapheme count. Most names are such, and checking them grapheme by
#: grapheme (`regex`'s segmentation) took 10-17 µs a name against 0.4-0.7 µs here.
_ONE_CODE_POINT_GRAPHEMES = re.compile(r"[\x20-\x7e\xa0-\u02ff\u0370-\u03ff\u0400-\u0482\u048a-\u052f]*")


def normalize_name(raw: object) -> str:
    """The canonical form of a display name, or `NameInvalid` saying what is wrong with it.

    Takes `object` because the value comes straight from a decoded message: a number or null
    in the `name` field must be refused like any other bad name, not crash.
    Whitespace is collapsed before control characters are looked for, so a tab between two
    words becomes a space rather than a refusal.
    """
    if not isinstance(raw, str):
        raise NameInvalid(f"name must be a string, got {type(raw).__name__}")
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise NameInvalid("name must not be empty")
    if name.isprintable() and _ONE_CODE_POINT_GRAPHEMES.fullmatch(name):
        # No control, format or separator character (`isprintable`), no mark: what the
        # checks below find is only the length.
        if len(name) > MAX_NAME_LENGTH:
            raise NameInvalid(f"name must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
        return name
    shown = graphemes(name)  # counted as a reader sees them: a family emoji is one
    if len(shown) > MAX_NAME_LENGTH:
        raise NameInvalid(f"name must be at most {MAX_NAME_LENGTH} characters, got {len(shown)}")
    for grapheme in shown:
        if len(grapheme) > MAX_GRAPHEME_CODE_POINTS:
            raise NameInvalid("name must not stack marks on one character")
        if (char := refused_in_name(grapheme)) is not None:
            raise NameInvalid(f"name must not contain control or format characters (U+{ord(char):04X})")
    if not has_visible(name):
        raise NameInvalid("name must have a visible character")
    return name


def name_key(name: str) -> str:
    """The key under which names must be unique in a game: case-folded ("ANNA" == "anna").

    Normalized to NFC again after case folding, because folding can decompose characters and
    two equal-looking names must produce the same key.
    """
    return unicodedata.normalize("NFC", name.casefold())
