"""A bare WebSocket client for attack scenarios: the handshake by hand, then any bytes at all
(frames no well-behaved client library would send as fast), and a reader for the server's
frames. Loopback only: `connect` refuses any host but 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import os
import struct

LOOPBACK = "127.0.0.1"
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


async def connect(port: int, path: str, host: str = LOOPBACK) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket on `path` and read the server's 101; raises ConnectionError otherwise."""
    if host != LOOPBACK:
        raise ValueError("attack scenarios send traffic to 127.0.0.1 only")
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: quiz.v1.json\r\n\r\n"
        .encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return reader, writer


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final masked client frame (payload < 126 bytes)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


def pings(count: int) -> bytes:
    """`count` empty ping frames, back to back (6 bytes each)."""
    return client_frame(OP_PING) * count


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next server frame: (opcode, payload)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack(">H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack(">Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(length)


async def close_code(reader: asyncio.StreamReader) -> tuple[int | None, int]:
    """Read until the server's close frame or EOF: (its close code or None, pongs seen)."""
    pongs = 0
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == OP_PONG:
                pongs += 1
            elif opcode == OP_CLOSE:
                return (struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None), pongs
    except (asyncio.IncompleteReadError, ConnectionError):
        return None, pongs
