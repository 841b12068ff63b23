"""A chat's Telegram users as players of its game.

A user joins with the Join button, or implicitly with their first answer, under their Telegram
name (with a " (2)"… suffix when taken). Joins of one user never race: a second press or vote
while the first join is in flight waits for it. With a `SeatMemory` every seat is also kept in
Redis, so a process that takes the chat over keeps the same players (no "Ann (2)").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from telegram import User

from statemachine.errors import NameTaken
from transports.port import PlayerSeat
from transports.telegram import names
from transports.telegram.quiz_port import QuizPort


class SeatMemory(Protocol):
    """Where a chat's seats (and posted questions) outlive this process (`shared.SharedState`)."""

    async def save_seat(self, chat_id: int, user_id: int, seat: dict[str, Any]) -> None: ...

    async def save_post(self, chat_id: int, question: int, message_id: int, poll_id: str | None) -> None: ...


class Seating:
    def __init__(
        self, port: QuizPort, pin: str, chat_id: int, memory: SeatMemory | None, on_join: Callable[[], None]
    ) -> None:
        self.port, self.pin, self.chat_id, self.memory, self.on_join = port, pin, chat_id, memory, on_join
        self.seats: dict[int, PlayerSeat] = {}  # Telegram user id -> seat
        self.names: dict[str, str] = {}  # player_id -> name, for this chat's players
        self._joining: dict[int, asyncio.Future[PlayerSeat]] = {}

    def restore(self, seats: Mapping[int, Mapping[str, Any]]) -> None:
        for user_id, seat in seats.items():
            restored = PlayerSeat(str(seat["player_id"]), str(seat["token"]), str(seat["name"]))
            self.seats[user_id] = restored
            self.names[restored.player_id] = restored.name

    async def seat_for(self, user: User) -> tuple[PlayerSeat, bool]:
        """The user's seat in the game, joining them first if needed; (seat, newly joined)."""
        seat = self.seats.get(user.id)
        if seat is not None:
            return seat, False
        pending = self._joining.get(user.id)
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[PlayerSeat] = asyncio.get_running_loop().create_future()
        self._joining[user.id] = future
        try:
            seat = await self._join(user)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark it retrieved: waiters get it, the loop must not complain
            raise
        finally:
            self._joining.pop(user.id, None)
        future.set_result(seat)
        return seat, True

    async def _join(self, user: User) -> PlayerSeat:
        base = names.clean_name(user.full_name, user.username)
        for name in names.candidates(base):
            try:
                seat = await self.port.join(self.pin, name)
            except NameTaken:
                continue
            break
        else:
            raise NameTaken("every variant of this name is taken")
        self.seats[user.id] = seat
        self.names[seat.player_id] = seat.name
        await self.port.set_connected(self.pin, seat.player_id, True)
        if self.memory is not None:
            record = {"player_id": seat.player_id, "token": seat.token, "name": seat.name}
            await self.memory.save_seat(self.chat_id, user.id, record)
        self.on_join()
        return seat
