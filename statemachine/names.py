"""Display names: one normal form, and a key for case-insensitive uniqueness.

Names are shown on a projected screen to a whole classroom and compared for `name_taken`, so
they are normalized before either: surrounding whitespace stripped, inner runs of whitespace
(tabs, newlines, non-breaking spaces) collapsed to one space, and Unicode NFC so that "é" typed
as one code point or as "e" plus an accent is the same name. Control and format characters
(Unicode category C*: zero-width joiners, direction overrides, unassigned code points) are
refused, because they make names that look alike but differ, or scramble the layout around
them.
"""

from __future__ import annotations

import unicodedata

from statemachine.errors import NameInvalid

__all__ = ["MAX_NAME_LENGTH", "name_key", "normalize_name"]

#: Longest accepted name, in code points after normalization; fits one leaderboard line.
MAX_NAME_LENGTH = 24


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
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(f"name must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    for char in name:
        if unicodedata.category(char).startswith("C"):
            raise NameInvalid(f"name must not contain control or format characters (U+{ord(char):04X})")
    return name


def name_key(name: str) -> str:
    """The key under which names must be unique in a game: case-folded ("ANNA" == "anna").

    Normalized to NFC again after case folding, because folding can decompose characters and
    two equal-looking names must produce the same key.
    """
    return unicodedata.normalize("NFC", name.casefold())
