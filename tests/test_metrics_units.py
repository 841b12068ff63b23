"""Metrics that no served game provokes on demand: a socket closed for falling behind."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY

from gameserver.connection import CLOSE_TOO_SLOW, Connection
from transports.codecs import JsonCodec


class StalledWebSocket:
    """A peer that never takes a frame: every send waits for ever."""

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def send(self, _: Any) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def drops() -> float:
    return REGISTRY.get_sample_value("livequiz_send_queue_drops_total") or 0.0


async def test_a_socket_past_its_queue_is_closed_1013_and_counted() -> None:
    before = drops()
    conn = Connection(StalledWebSocket(), JsonCodec(), "123456", "player", max_queue=8)  # type: ignore[arg-type]
    for index in range(9):
        conn.send({"type": "lobby", "count": index})
    assert not conn.open
    assert drops() == before + 1
    conn.send({"type": "lobby", "count": 99})  # a closed socket counts no more
    assert drops() == before + 1
    assert CLOSE_TOO_SLOW == 1013
    writer = conn._writer
    if writer is not None:  # the stalled send it waits in
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
