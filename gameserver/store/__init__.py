"""The Redis game store, in three parts a newcomer can read one at a time.

- `records.py`: what is read back (`GameRecord`, `Presence`, answers, totals) and the parsers
  that turn the scripts' raw hashes into them; token digests; the scripts' refusal codes.
- `batcher.py`: the generic `Batcher` that coalesces many script calls into one pipeline, and
  the join, answer and connect batchers built on it.
- `game_store.py`: `GameStore`, every read and atomic write of a game's live state.

The public names are re-exported here, so `from gameserver.store import GameStore` keeps
working. The cache of this process's own big publications belongs to the fan-out and lives in
`gameserver/publications.py`.
"""

from __future__ import annotations

from gameserver.store.batcher import Batcher
from gameserver.store.game_store import EXISTS_CACHE_MAX, EXISTS_CACHE_S, GameStore
from gameserver.store.records import GameRecord, Presence, token_digest, tokens_match

__all__ = [
    "EXISTS_CACHE_MAX",
    "EXISTS_CACHE_S",
    "Batcher",
    "GameRecord",
    "GameStore",
    "Presence",
    "token_digest",
    "tokens_match",
]
