"""What the store reads back from Redis, as typed records, and the parsers that build them.

A game's live state is a Redis hash (`game:{pin}` fields written by the Lua scripts of
`scripts.py`); players, answers and totals are hashes of short comma-separated values. This
module turns those raw bytes into `GameRecord`, `Answer` and `Totals` values and back, and maps
the scripts' refusal strings to the protocol's typed errors. No I/O here: the store
(`game_store.py`) and the batchers (`batcher.py`) fetch, this module reads.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from scoring import Answer, Totals
from statemachine import GameState, Phase
from statemachine.errors import (
    AlreadyAnswered,
    ClientError,
    Finished,
    GameFull,
    Kicked,
    Locked,
    NameTaken,
    NotActive,
    NotOpen,
    ServerError,
    TooLate,
    UnknownGame,
    WrongQuestion,
)

__all__ = [
    "REFUSALS",
    "GameRecord",
    "Presence",
    "all_totals_from",
    "answers_from",
    "opens_a_question",
    "players_from",
    "record_from",
    "state_fields",
    "token_digest",
    "tokens_match",
    "totals_from",
    "totals_to",
]

#: The refusal strings the Lua scripts return, as the typed errors the protocol names.
REFUSALS: dict[str, type[ClientError]] = {
    "unknown_game": UnknownGame,
    "finished": Finished,
    "locked": Locked,
    "game_full": GameFull,
    "name_taken": NameTaken,
    "not_active": NotActive,
    "not_open": NotOpen,
    "wrong_question": WrongQuestion,
    "too_late": TooLate,
    "already_answered": AlreadyAnswered,
    "kicked": Kicked,
}


def token_digest(token: str) -> str:
    """Tokens are stored only as SHA-256 digests: a leaked Redis dump resumes no one."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(token: str, digest: str) -> bool:
    return secrets.compare_digest(token_digest(token), digest)


@dataclass(frozen=True)
class GameRecord:
    pin: str
    title: str
    host_digest: str
    players: int
    state: GameState
    #: Which game this is: a nonce written once at creation (a PIN is reused after a game's
    #: results expire; the game id is not). Games created before it existed use `created`.
    game_id: str = ""



@dataclass(frozen=True)
class Presence:
    """A player's open sockets after a connect/disconnect, and the game's phase then."""

    sockets: int
    phase: str
    question: int


def state_fields(state: GameState) -> dict[str, str]:
    return {
        "phase": state.phase.value,
        "question": str(state.question),
        "opened": str(state.opened_ms),
        "deadline": str(state.deadline_ms),
        "scored": str(state.scored),
        "locked": "1" if state.locked else "0",
        "version": str(state.version),
        "lead_in": str(state.lead_in_ms),
        "changed": str(state.changed_ms),
        "next": str(state.next_ms),
    }  # `scored_at` is written by APPLY_SCORES alone, with `scored`


def opens_a_question(old: GameState, new: GameState) -> bool:
    """Whether the step from `old` to `new` opens a question (each opens exactly once)."""
    return new.phase is Phase.ACTIVE and (old.phase is not Phase.ACTIVE or old.question != new.question)


def record_from(pin: str, raw: Mapping[bytes, bytes]) -> GameRecord:
    meta = {k.decode(): v.decode() for k, v in raw.items()}
    limits = tuple(int(x) for x in meta["limits"].split(","))
    state = GameState(
        question_count=int(meta["count"]),
        time_limits_ms=limits,
        phase=Phase(meta["phase"]),
        question=int(meta["question"]),
        opened_ms=int(meta["opened"]),
        deadline_ms=int(meta["deadline"]),
        scored=int(meta["scored"]),
        locked=meta["locked"] == "1",
        version=int(meta["version"]),
        lead_in_ms=int(meta.get("lead_in", "0")),
        changed_ms=int(meta.get("changed", "0")),
        next_ms=int(meta.get("next", "0")),
        scored_ms=int(meta.get("scored_at", "0")),
    )
    game_id = meta.get("gid") or meta.get("created", "")
    return GameRecord(pin, meta["title"], meta["host"], int(meta["players"]), state, game_id)


def totals_from(raw: bytes) -> Totals:
    score, answers, correct, time_ms = raw.split(b",")
    return Totals(score=int(score), answers=int(answers), correct=int(correct), correct_time_ms=int(time_ms))


def totals_to(totals: Totals) -> str:
    return f"{totals.score},{totals.answers},{totals.correct},{totals.correct_time_ms}"


# Parsers of whole hashes, on raw bytes (int() takes ASCII digits as bytes): at 10,000 players
# per game these run while everyone waits for the reveal, so each works on all values at once
# (one join, one split, `map(int)`, tuples zipped together: loops that run in C) instead of
# splitting and converting value by value. The values are written only by our scripts; a value
# with the wrong number of fields is refused, never misread.

_new_answer = functools.partial(tuple.__new__, Answer)  # fields from our own records, in order
_new_totals = functools.partial(tuple.__new__, Totals)


def _fields(values: Collection[bytes], per_value: int, what: str) -> Iterator[int]:
    """The comma-separated integers of every value, in order, as one iterator."""
    commas = per_value - 1
    try:
        if all(value.count(b",") == commas for value in values):
            return iter(list(map(int, b",".join(values).split(b","))))
    except ValueError:  # a field that is not an integer
        pass
    raise ServerError(f"a stored {what} record is malformed")


def players_from(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return dict(zip(map(bytes.decode, raw), map(bytes.decode, raw.values()), strict=True))


def answers_from(raw: Mapping[bytes, bytes]) -> dict[str, Answer]:
    if not raw:
        return {}
    fields = _fields(raw.values(), 2, "answer")
    return dict(zip(map(bytes.decode, raw), map(_new_answer, zip(fields, fields, strict=True)), strict=True))


def all_totals_from(raw: Mapping[bytes, bytes]) -> dict[str, Totals]:
    if not raw:
        return {}
    fields = _fields(raw.values(), 4, "totals")
    totals = map(_new_totals, zip(fields, fields, fields, fields, strict=True))
    return dict(zip(map(bytes.decode, raw), totals, strict=True))

