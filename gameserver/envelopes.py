"""The events a game publishes on its pub/sub channel, as frozen typed values.

Theory of operation
-------------------
Every change to a game is announced by one *envelope* on the game's channel, published inside
the same Lua script that makes the change (`scripts.py`), so a change and its announcement
cannot be separated. Every process holding sockets of the game reads it and fans it out
(`hub/delivery.py`). There are four kinds, told apart on the wire by their `e` field:

==============  =====================================================  ===================
`e`             what happened                                          built by
==============  =====================================================  ===================
`msgs`          wire messages for the game's sockets (`Messages`)      Python (service)
`join`          players joined (one event per batch; `PlayersJoined`)  Lua `JOIN_MANY`
`kick`          the host removed a player (`PlayerKicked`)             Lua `KICK`
`lock`          joining was locked or unlocked (`LockSet`)             Python (service)
==============  =====================================================  ===================

A `Messages` envelope carries one or more `Message`: the message every socket gets (`msg`),
each player's own fields (`you`: player id -> fields, spliced onto the shared bytes per
socket) and fields only hosts get (`host`). The reveal and the final results are also stored
in Redis as they were published, and read back with `Messages.from_json`.

Values are parsed once per event per process (`from_json` / `from_dict`), at the edge, and
serialised once (`to_json`); nothing here runs per socket. The large mappings inside (10,000
`you` entries of a reveal) are kept as the decoded dicts, not copied. The Lua scripts encode
`join` and `kick` with cjson; their wire format is the one parsed here. A payload that is not
one of these kinds raises `BadEnvelope`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

__all__ = [
    "BadEnvelope",
    "Envelope",
    "LockSet",
    "Message",
    "Messages",
    "PlayerKicked",
    "PlayersJoined",
    "from_dict",
    "from_json",
]


#: (id, name) of one player of a `join` event, in C: a join storm's events list thousands.
_ID_AND_NAME = itemgetter("id", "name")


class BadEnvelope(ValueError):
    """A payload on a game channel that is not an envelope this server publishes."""


@dataclass(frozen=True, slots=True)
class Message:
    """One wire message of an event: `msg` for every socket, `you` per player, `host` for hosts."""

    msg: Mapping[str, Any]
    #: player id -> that player's own fields, sent as the message's `you` (None: nobody has any).
    you: Mapping[str, Any] | None = None
    #: Fields added to the message for host sockets only (the final results' full table).
    host: Mapping[str, Any] | None = None

    @property
    def kind(self) -> str:
        """The wire message's `type` (`question`, `reveal`, `leaderboard`, `finished`, ...)."""
        return str(self.msg.get("type", ""))

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {"msg": self.msg}
        if self.you is not None:
            item["you"] = self.you
        if self.host is not None:
            item["host"] = self.host
        return item

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Message:
        return cls(raw["msg"], raw.get("you"), raw.get("host"))


@dataclass(frozen=True, slots=True)
class Messages:
    """`e: msgs`: wire messages for every socket of the game, in the order they are sent."""

    items: tuple[Message, ...]

    @property
    def question(self) -> int | None:
        """The question the first message is about (a reveal's, say), None if it names none."""
        if not self.items:
            return None
        question = self.items[0].msg.get("question")
        return question if isinstance(question, int) else None

    @property
    def host_results(self) -> list[dict[str, Any]]:
        """The final results' table (the `finished` envelope's host-only `results`)."""
        host = self.items[0].host if self.items else None
        if host is None or not isinstance(host.get("results"), list):
            raise BadEnvelope("these messages carry no final results")
        return list(host["results"])

    def to_dict(self) -> dict[str, Any]:
        return {"e": "msgs", "msgs": [item.to_dict() for item in self.items]}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> Messages:
        """A stored reveal or final results, as published."""
        envelope = from_json(data)
        if not isinstance(envelope, Messages):
            raise BadEnvelope(f"expected messages, got {type(envelope).__name__}")
        return envelope


@dataclass(frozen=True, slots=True)
class PlayersJoined:
    """`e: join` (Lua `JOIN_MANY`): the players one batch of joins added, and the new count."""

    #: (player id, name) of each player added, in join order.
    players: tuple[tuple[str, str], ...]
    count: int

    def to_dict(self) -> dict[str, Any]:
        joined = [{"id": player_id, "name": name} for player_id, name in self.players]
        return {"e": "join", "joined": joined, "count": self.count}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


@dataclass(frozen=True, slots=True)
class PlayerKicked:
    """`e: kick` (Lua `KICK`): a player removed for good, and the new player count."""

    player_id: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"e": "kick", "id": self.player_id, "count": self.count}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


@dataclass(frozen=True, slots=True)
class LockSet:
    """`e: lock`: joining is now refused (`locked`) or allowed; `count` players at the time."""

    locked: bool
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        envelope: dict[str, Any] = {"e": "lock", "locked": self.locked}
        if self.count is not None:
            envelope["count"] = self.count
        return envelope

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


#: Anything published on a game's channel.
Envelope = Messages | PlayersJoined | PlayerKicked | LockSet


def from_dict(raw: Mapping[str, Any]) -> Envelope:
    """The envelope a decoded payload holds; `BadEnvelope` for anything else."""
    try:
        kind = raw["e"]
        if kind == "msgs":
            return Messages(tuple(map(Message.from_dict, raw["msgs"])))
        if kind == "join":
            return PlayersJoined(tuple(map(_ID_AND_NAME, raw["joined"])), int(raw["count"]))
        if kind == "kick":
            return PlayerKicked(raw["id"], int(raw["count"]))
        if kind == "lock":
            count = raw.get("count")
            return LockSet(bool(raw["locked"]), None if count is None else int(count))
    except (KeyError, TypeError, ValueError) as error:
        raise BadEnvelope(f"malformed envelope: {error!r}") from error
    raise BadEnvelope(f"unknown envelope kind {kind!r}")


def from_json(data: bytes | str) -> Envelope:
    """The envelope published as `data` (the bytes read off pub/sub, or a stored copy)."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BadEnvelope(f"not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise BadEnvelope("an envelope is a JSON object")
    return from_dict(raw)
