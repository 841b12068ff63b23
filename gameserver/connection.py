"""One client socket with a bounded send queue (DESIGN.md principle 8).

Broadcasts never await a socket. Under our uvicorn protocol (`wsprotocol.py`) a frame is
written straight to the socket's transport, prebuilt once for all recipients; elsewhere it is
appended to the connection's queue and a per-connection writer task drains it through ASGI.
A client too slow to follow the game (more than `max_buffer_bytes` unsent, or `max_queue`
frames queued) is closed with 1013 ("try again later") and may `resume`, rather than letting
it hold memory or delay anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket

from gameserver import metrics
from gameserver.wsprotocol import RawWriter, frame_bytes
from transports.codecs import Codec, Frame

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013


class Connection:
    __slots__ = (
        "_closing", "_queue", "_raw", "_raw_usable", "_wake", "_writer", "codec", "max_buffer_bytes", "max_queue",
        "pin", "player_id", "role", "websocket",
    )

    def __init__(
        self, websocket: WebSocket, codec: Codec, pin: str, role: str, max_queue: int,
        raw: RawWriter | None = None, max_buffer_bytes: int = 256 * 1024,
    ) -> None:
        self.websocket = websocket
        self._raw = raw
        # Once usable, a raw writer stays so (a completed handshake and its extensions never
        # change), so the fan-out's inner loop checks a flag, not the protocol, per socket.
        self._raw_usable = False
        self.max_buffer_bytes = max_buffer_bytes
        self.codec = codec
        self.pin = pin
        self.role = role  # "player" or "host"
        self.player_id: str | None = None
        self.max_queue = max_queue
        self._queue: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        # Created on first need: on the raw path a socket never needs one until it closes,
        # which saves a task and its frame per player (thousands per game).
        self._writer: asyncio.Task[None] | None = None

    def _wake_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name=f"send:{self.pin}:{self.role}")
        self._wake.set()

    @property
    def open(self) -> bool:
        return self._closing is None

    def send(self, message: Mapping[str, Any]) -> None:
        self.send_frame(self.codec.encode(message))

    def send_frame(self, frame: Frame) -> None:
        """Send one encoded message (broadcasts with a prebuilt frame use `send_wire`)."""
        if self._closing is not None:
            return
        if self.raw_ready():
            self._write_raw(frame_bytes(frame))
        else:
            self._enqueue(frame)

    def raw_ready(self) -> bool:
        """Frames may go straight to the transport: nothing queued ahead of them (order)."""
        if self._queue:
            return False
        if not self._raw_usable:
            self._raw_usable = self._raw is not None and self._raw.usable()
        return self._raw_usable

    def send_wire(self, wire: bytes) -> None:
        """Write complete frames (one or several, concatenated); only when `raw_ready()`."""
        if self._closing is None:
            self._write_raw(wire)

    def _write_raw(self, wire: bytes) -> None:
        unsent = self._raw.write(wire)  # type: ignore[union-attr]  # raw_ready() said there is one
        if unsent < 0:
            self._closing = (1006, "")
        elif unsent > self.max_buffer_bytes:
            log.warning("closing a socket of game %s: %d bytes unsent", self.pin, unsent)
            metrics.SEND_QUEUE_DROPS.inc()
            self.close(CLOSE_TOO_SLOW, "too slow")

    def _enqueue(self, frame: Frame) -> None:
        if len(self._queue) >= self.max_queue:
            log.warning("closing a socket of game %s: %d frames behind", self.pin, len(self._queue))
            self._queue.clear()
            metrics.SEND_QUEUE_DROPS.inc()
            self.close(CLOSE_TOO_SLOW, "too slow")
            return
        self._queue.append(frame)
        self._wake_writer()

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued (so `kicked` reaches the client first)."""
        if self._closing is None:
            self._closing = (code, reason)
            self._wake_writer()

    async def _drain(self) -> None:
        send = self.websocket.send
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    frame = self._queue.popleft()
                    if isinstance(frame, str):
                        await send({"type": "websocket.send", "text": frame})
                    else:
                        await send({"type": "websocket.send", "bytes": frame})
                if self._closing is not None:
                    code, reason = self._closing
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
        except Exception:  # the peer went away mid-send: nothing left to deliver
            self._closing = self._closing or (1006, "")
            self._queue.clear()

    async def finish(self) -> None:
        """Stop the writer (the socket is gone)."""
        self._closing = self._closing or (1000, "")
        if self._writer is None:
            return
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer

    async def flushed(self, within_s: float = 5.0) -> None:
        """Wait until the writer has sent everything and the close (used when closing)."""
        if self._writer is None:
            return
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), within_s)
