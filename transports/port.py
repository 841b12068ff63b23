"""The port through which a bridge (Telegram group, ...) joins a live game.

A bridge acts like a screen plus a set of players: it listens to a game's messages and joins
and answers on behalf of its own users. `transports` never imports `gameserver` internals; the
server implements this protocol and hands an instance to each bridge it wires up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class PlayerSeat:
    player_id: str
    token: str
    name: str


@dataclass(frozen=True)
class GameSummary:
    pin: str
    title: str
    phase: str
    players: int
    question_count: int


class GameListener(Protocol):
    def deliver(self, message: Mapping[str, Any], personal: Mapping[str, Mapping[str, Any]]) -> None:
        """One message as every player gets it (`question`, `reveal`, `leaderboard`, `finished`,
        `lobby`, ...), plus each player's personal `you` fields by player_id (empty when none).
        Called on the event loop; must not block."""


class GamePort(Protocol):
    def now_ms(self) -> int:
        """The server clock that deadlines use (ms since the epoch)."""

    async def summary(self, pin: str) -> GameSummary:
        """Raises UnknownGame."""

    async def verify_host(self, pin: str, host_token: str) -> bool:
        """Constant-time check of a host token."""

    async def join(self, pin: str, name: str) -> PlayerSeat:
        """A new player. Raises NameTaken, NameInvalid, Locked, Finished, GameFull, UnknownGame."""

    async def set_connected(self, pin: str, player_id: str, connected: bool) -> None:
        """Whether the player is reachable now: the question waits (closes early) only for
        connected players."""

    async def answer(self, pin: str, player_id: str, question: int, option: int, received_ms: int) -> None:
        """Record an answer. Raises NotActive, WrongQuestion, TooLate, AlreadyAnswered,
        InvalidOption."""

    async def current_messages(self, pin: str) -> list[dict[str, Any]]:
        """The current phase messages (as sent to a player joining now)."""

    async def listen(self, pin: str, listener: GameListener) -> Callable[[], Awaitable[None]]:
        """Deliver the game's messages to `listener` from when this returns (subscribed before
        it returns, so read `current_messages` after it to miss nothing); returns the
        unsubscribe coroutine function."""
