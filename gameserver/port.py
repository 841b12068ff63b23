"""The server's side of `transports.port.GamePort`: how bridges (Telegram, ...) reach games."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gameserver.context import LiveContext
from transports.port import GameListener, GameSummary, PlayerSeat


class ServerPort:
    """Implements `transports.port.GamePort` over this process's service and hub."""

    def __init__(self, live: LiveContext) -> None:
        self.live = live

    def now_ms(self) -> int:
        return self.live.service.now_ms()

    async def summary(self, pin: str) -> GameSummary:
        record = await self.live.service.record(pin)
        return GameSummary(pin, record.title, record.state.phase.value, record.players, record.state.question_count)

    async def verify_host(self, pin: str, host_token: str) -> bool:
        return await self.live.service.is_host(pin, host_token)

    async def join(self, pin: str, name: str) -> PlayerSeat:
        return await self.live.service.join(pin, name)

    async def set_connected(self, pin: str, player_id: str, connected: bool) -> None:
        await self.live.service.set_connected(pin, player_id, connected)

    async def answer(self, pin: str, player_id: str, question: int, option: int, received_ms: int) -> None:
        await self.live.service.answer(pin, player_id, question, option, received_ms)

    async def current_messages(self, pin: str) -> list[dict[str, Any]]:
        return await self.live.service.current_messages(pin)

    async def listen(self, pin: str, listener: GameListener) -> Callable[[], Awaitable[None]]:
        hub = self.live.hub
        await hub.attach_listener(pin, listener)

        async def unsubscribe() -> None:
            await hub.detach_listener(pin, listener)

        return unsubscribe
