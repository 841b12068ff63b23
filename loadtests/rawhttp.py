"""A bare HTTP/1.1 keep-alive client for benchmarks: a request is a few bytes written and a
response read by its Content-Length, so the load generator spends far less CPU per request
than httpx (which, at a thousand clients on one core, measured the client more than the
server). One connection per simulated user; loopback only."""

from __future__ import annotations

import asyncio
import time

import orjson

LOOPBACK = "127.0.0.1"
IDLE_REOPEN_S = 4.0  # uvicorn closes a keep-alive connection idle 5 s: reopen before that


class RawHttp:
    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        idle = time.monotonic() - self.last_used
        if self.writer is None or self.reader is None or self.reader.at_eof() or idle > IDLE_REOPEN_S:
            await self.close()
            self.reader, self.writer = await asyncio.open_connection(LOOPBACK, self.port)
        return self.reader, self.writer

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        """(status, body) of one request; a JSON body is sent when `body` is not None."""
        reader, writer = await self._connection()
        payload = b"" if body is None else orjson.dumps(body)
        head = f"{method} {path} HTTP/1.1\r\nHost: {LOOPBACK}:{self.port}\r\n{self.extra}"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        writer.write(head.encode() + payload)
        response_head = await reader.readuntil(b"\r\n\r\n")
        status = int(response_head[9:12])
        length = 0
        for line in response_head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await reader.readexactly(length) if length else b""
        self.last_used = time.monotonic()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None
