"""The messages the server sends a game's sockets, as frozen typed values.

Theory of operation
-------------------
Every server→client message of the protocol (`docs/protocol.md`) is one class here, so mypy
checks each place that builds one against its fields. A builder makes the value once per event
of a game (not per socket) and calls `to_wire()`: the plain dict that goes on the wire, keys in
the order clients have always received them. From there on the dict is what travels: inside
an `envelopes.Message` on the game's channel, stored as the last reveal or the final results,
held for a socket not yet welcomed, encoded once per codec for the fan-out (`hub/wire.py`).
The per-socket paths never see these classes. Nor may a codec: orjson would encode the value
itself, silently, as a dict of its fields without `type`.

=================  ===============  ====================================================
`type`             class            built by
=================  ===============  ====================================================
`joined`           `Joined`         `ws.py` (a player's welcome)
`hosting`          `Hosting`        `ws.py` (a host's welcome)
`lobby`            `Lobby`          `hub/pacing.py` (players' counts, listeners),
                                    `service.py` (a welcome in WAITING)
`lobby` (hosts)    `HostLobby`      `hub/pacing.py`, `service.py`
`question`         `QuestionShown`  `game_messages.py` (via `game_runner.py`,
                                    `service.py` for a welcome, `gamesync.py` catch-up)
`answer_count`     `AnswerCount`    `hub/pacing.py` (hosts only)
`answer_ack`       `AnswerAck`      `ws.py`
`reveal`           `Reveal`         `reveal.py`
`leaderboard`      `Leaderboard`    `reveal.py`
`finished`         `Finished`       `game_messages.py`
`kicked`           `Kicked`         `hub/delivery.py`
`pong`             `Pong`           `ws.py`
`error`            `ErrorMessage`   `ws.py`, `hub/core.py` (`unknown_game`)
=================  ===============  ====================================================

`ws.py` still writes its messages as dict literals in these shapes (its `answer_ack` and
`error` are checked against the classes by tests/test_wire_messages.py).

What differs per recipient is not in these values: a reveal's `you` (`RevealYou`, one per
player) and the final `you` (`scoring.FinalYou`) travel as `Message.you`, spliced onto the
shared bytes per socket; the final `results` (`scoring.ResultLine`) as `Message.host`. Those
are typed dicts, plain dicts at run time: a 10,000-player reveal builds 10,000 of them and
nothing more. Lines of a list (`leaderboard.top`, `finished.podium`, `lobby.joined`) are typed
dicts too, so `to_wire()` hands them on as they are.

Each class names its wire `type` as `TYPE`, which code reading a message back (by its
`type`, as `gamesync.game_step` does) uses instead of a string of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

from scoring import LeaderboardLine, PodiumLine

__all__ = [
    "AnswerAck",
    "AnswerCount",
    "ErrorMessage",
    "Finished",
    "HostLobby",
    "Hosting",
    "Joined",
    "Kicked",
    "Leaderboard",
    "Lobby",
    "LobbyPlayer",
    "Pong",
    "QuestionShown",
    "Reveal",
    "RevealYou",
    "ServerMessage",
]


class LobbyPlayer(TypedDict):
    """A player as a host sees it in `hosting.players` and `lobby.joined`."""

    player_id: str
    name: str


class RevealYou(TypedDict):
    """One player's own part of a `reveal` (its `you`), spliced in per socket."""

    answered: bool
    correct: bool
    points: int
    score: int
    rank: int


@dataclass(frozen=True, slots=True)
class Joined:
    """A player's welcome: who it is (its token, for `resume`), the game's phase, its score."""

    TYPE: ClassVar[str] = "joined"
    player_id: str
    token: str
    name: str
    pin: str
    phase: str
    score: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "joined", "player_id": self.player_id, "token": self.token, "name": self.name, "pin": self.pin,
            "phase": self.phase, "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class Hosting:
    """A host's welcome: the game and everyone in it so far."""

    TYPE: ClassVar[str] = "hosting"
    pin: str
    title: str
    phase: str
    players: tuple[LobbyPlayer, ...]
    question_count: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "hosting", "pin": self.pin, "title": self.title, "phase": self.phase,
            "players": list(self.players), "question_count": self.question_count,
        }


@dataclass(frozen=True, slots=True)
class Lobby:
    """The number of players in the game (kicked ones leave it), as players see it."""

    TYPE: ClassVar[str] = "lobby"
    count: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": "lobby", "count": self.count}


@dataclass(frozen=True, slots=True)
class HostLobby:
    """The hosts' lobby: the count, who joined and left since the last one, the lock."""

    TYPE: ClassVar[str] = "lobby"
    count: int
    joined: tuple[LobbyPlayer, ...]
    left: tuple[str, ...]
    locked: bool

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "lobby", "count": self.count, "joined": list(self.joined), "left": list(self.left),
            "locked": self.locked,
        }


@dataclass(frozen=True, slots=True)
class QuestionShown:
    """The running question, never its correct option. `opens_at` is when answers are taken
    (after the lead-in), `deadline` is `opens_at` plus the time limit, `server_time` when the
    message was built; `answered` only to a resuming player (None: not sent)."""

    TYPE: ClassVar[str] = "question"
    question: int
    total: int
    text: str
    options: tuple[str, ...]
    time_limit_ms: int
    opens_at: int
    deadline: int
    server_time: int
    answered: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "type": "question",
            "question": self.question,
            "total": self.total,
            "text": self.text,
            "options": list(self.options),
            "time_limit_ms": self.time_limit_ms,
            "opens_at": self.opens_at,
            "deadline": self.deadline,
            "server_time": self.server_time,
        }
        if self.answered is not None:
            wire["answered"] = self.answered
        return wire


@dataclass(frozen=True, slots=True)
class AnswerCount:
    """To hosts: how many of the connected players answered the running question."""

    TYPE: ClassVar[str] = "answer_count"
    question: int
    answered: int
    players: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": "answer_count", "question": self.question, "answered": self.answered, "players": self.players}


@dataclass(frozen=True, slots=True)
class AnswerAck:
    """An answer was recorded."""

    TYPE: ClassVar[str] = "answer_ack"
    question: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": "answer_ack", "question": self.question, "accepted": True}


@dataclass(frozen=True, slots=True)
class Reveal:
    """A closed question's correct option and how many chose each option (each player's own
    outcome goes with it as `you`: `RevealYou`)."""

    TYPE: ClassVar[str] = "reveal"
    question: int
    correct: int
    distribution: tuple[int, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "reveal", "question": self.question, "correct": self.correct,
            "distribution": list(self.distribution),
        }


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """The first lines of the ranking after a question (at most `scoring.LEADERBOARD_SIZE`)."""

    TYPE: ClassVar[str] = "leaderboard"
    question: int
    top: tuple[LeaderboardLine, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"type": "leaderboard", "question": self.question, "top": list(self.top)}


@dataclass(frozen=True, slots=True)
class Finished:
    """The game's end: the podium for everyone (each player's own line goes with it as `you`,
    the full table to hosts as `results`)."""

    TYPE: ClassVar[str] = "finished"
    podium: tuple[PodiumLine, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"type": "finished", "podium": list(self.podium)}


@dataclass(frozen=True, slots=True)
class Kicked:
    """The host removed this player; the socket is closed 4403 after it."""

    TYPE: ClassVar[str] = "kicked"

    def to_wire(self) -> dict[str, Any]:
        return {"type": "kicked"}


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to a `ping`: the client's own `t`, echoed as sent, and the server clock."""

    TYPE: ClassVar[str] = "pong"
    t: object
    server_time: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": "pong", "t": self.t, "server_time": self.server_time}


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """A refusal: a stable `code`, a human `message`; `question` for an answer's refusal,
    `retry_after` (seconds) for a per-address limit (None: not sent)."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    question: int | None = None
    retry_after: int | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.question is not None:
            wire["question"] = self.question
        if self.retry_after is not None:
            wire["retry_after"] = self.retry_after
        return wire


#: Any message the server sends a game's socket.
ServerMessage = (
    Joined | Hosting | Lobby | HostLobby | QuestionShown | AnswerCount | AnswerAck | Reveal | Leaderboard
    | Finished | Kicked | Pong | ErrorMessage
)
