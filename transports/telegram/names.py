"""Telegram users become players under their Telegram name, with a suffix when it is taken.

The game's name rules (statemachine.names) are the judge: at most 24 characters, no control or
format characters, unique case-insensitively. A Telegram name may break them (long names, emoji
joined with zero-width joiners), so it is cleaned first; then "Ann", "Ann (2)", "Ann (3)", ...
are tried until the game accepts one, the base being cut so that the suffix always fits.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from statemachine.names import MAX_NAME_LENGTH

FALLBACK_NAME = "Player"
MAX_SUFFIX = 50


def clean_name(full_name: str | None, username: str | None = None) -> str:
    """A display name the game will accept (modulo uniqueness) from a Telegram user's names."""
    for raw in (full_name, username):
        if not raw:
            continue
        kept = "".join(c for c in unicodedata.normalize("NFC", raw) if not unicodedata.category(c).startswith("C"))
        name = " ".join(kept.split())[:MAX_NAME_LENGTH].strip()
        if name:
            return name
    return FALLBACK_NAME


def candidates(base: str) -> Iterator[str]:
    """`base`, then `base (2)`, `base (3)`, ... each at most MAX_NAME_LENGTH characters."""
    yield base[:MAX_NAME_LENGTH]
    for n in range(2, MAX_SUFFIX + 1):
        suffix = f" ({n})"
        yield base[: MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix
