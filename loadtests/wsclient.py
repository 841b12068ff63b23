"""A minimal WebSocket client on a bare asyncio Protocol (RFC 6455, client side only).

Why not `websockets`: a simulated player must cost as little CPU as possible so that the
harness, which shares the 2-core box with the server, does not measure itself. This client has
no per-message task, queue or future: `data_received` parses frames and calls the owner's
`on_message` directly. It supports exactly what a protocol-v1 client needs: one subprotocol,
text/binary messages (fragmented or not), ping → pong, close. No extensions are offered, so
the server never compresses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import socket
import struct
from collections.abc import Callable
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_getrandbits = random.getrandbits

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the port at connect() time, per 4-tuple


class HandshakeError(Exception):
    """The server refused the upgrade (HTTP status other than 101, or a bad accept key)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"handshake failed: HTTP {status}: {text[:200]}")
        self.status = status


def mask_payload(payload: bytes, key: int) -> bytes:
    """XOR `payload` with the 4-byte mask `key` (big-endian), as RFC 6455 §5.3 asks."""
    n = len(payload)
    if n == 0:
        return b""
    k = key.to_bytes(4, "big") * (n // 4 + 1)
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k[:n], "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, key: int | None = None) -> bytes:
    """One final client frame (masked). `key` is random unless given (tests)."""
    if key is None:
        key = _getrandbits(32)
    n = len(payload)
    b0 = 0x80 | opcode
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + key.to_bytes(4, "big") + mask_payload(payload, key)


class WSClient(asyncio.Protocol):
    """One client connection. `on_message(data, is_text)` is called per complete message;
    `on_close(code)` once when the connection ends (code 1006 when no close frame came)."""

    __slots__ = (
        "_buf",
        "_frag",
        "_frag_text",
        "_key",
        "_request",
        "close_code",
        "closed",
        "handshake",
        "on_close",
        "on_message",
        "subprotocol",
        "transport",
    )

    def __init__(
        self,
        request: bytes,
        key: bytes,
        on_message: Callable[[bytes, bool], Any],
        on_close: Callable[[int], Any],
    ) -> None:
        self._request = request
        self._key = key
        self._buf = bytearray()
        self._frag: bytearray | None = None
        self._frag_text = False
        self.on_message = on_message
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subprotocol: str | None = None
        self.closed = False
        self.close_code = 1006

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self.handshake.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            self._finish_handshake(head)
            if not self.handshake.done() or self.handshake.exception() is not None:
                return
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("closed during handshake"))
            self.closed = True
        if not self.closed:
            self.closed = True
            self.on_close(self.close_code)

    # -- internals ----------------------------------------------------------------------------
    def _finish_handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status != 101:
            self.handshake.set_exception(HandshakeError(status, head))
            self.closed = True
            assert self.transport is not None
            self.transport.close()
            return
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            self.handshake.set_exception(HandshakeError(status, "bad Sec-WebSocket-Accept"))
            self.closed = True
            assert self.transport is not None
            self.transport.close()
            return
        self.subprotocol = headers.get("sec-websocket-protocol")
        self.handshake.set_result(None)

    def _parse(self) -> None:
        buf = self._buf
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            hdr = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
            if b1 & 0x80:  # a server must not mask; tolerate it anyway
                hdr += 4
            end = pos + hdr + n
            if end > size:
                break
            payload = bytes(buf[pos + hdr : end])
            if b1 & 0x80:
                payload = mask_payload(payload, int.from_bytes(buf[pos + hdr - 4 : pos + hdr], "big"))
            pos = end
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
            if self.closed:
                break
        if pos:
            del buf[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT or opcode == OP_BIN:
            if fin:
                self.on_message(payload, opcode == OP_TEXT)
            else:
                self._frag = bytearray(payload)
                self._frag_text = opcode == OP_TEXT
        elif opcode == OP_CONT:
            if self._frag is None:
                return
            self._frag += payload
            if fin:
                data = bytes(self._frag)
                self._frag = None
                self.on_message(data, self._frag_text)
        elif opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._write(OP_CLOSE, payload[:2])
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.on_close(self.close_code)

    def _write(self, opcode: int, payload: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(encode_frame(opcode, payload))

    # -- public -------------------------------------------------------------------------------
    def send(self, payload: bytes, text: bool) -> bool:
        """Send one message; False when the connection is already gone."""
        t = self.transport
        if self.closed or t is None or t.is_closing():
            return False
        t.write(encode_frame(OP_TEXT if text else OP_BIN, payload))
        return True

    def close(self, code: int = 1000) -> None:
        """Send a close frame and drop the connection (no wait for the server's close)."""
        if self.closed:
            return
        self._write(OP_CLOSE, code.to_bytes(2, "big"))
        self.closed = True
        self.close_code = code
        if self.transport is not None:
            self.transport.close()
        self.on_close(code)


async def connect(
    host: str,
    port: int,
    path: str,
    on_message: Callable[[bytes, bool], Any],
    on_close: Callable[[int], Any],
    subprotocol: str | None = None,
    source_ip: str | None = None,
    within: float = 30.0,
) -> WSClient:
    """Open a TCP connection (from `source_ip` if given), upgrade it, return the client."""
    loop = asyncio.get_running_loop()
    key = base64.b64encode(_getrandbits(128).to_bytes(16, "big"))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    proto: WSClient | None = None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source_ip:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source_ip, 0))
        sock.setblocking(False)
        async with asyncio.timeout(within):
            await loop.sock_connect(sock, (host, port))
            _, proto = await loop.create_connection(lambda: WSClient(request, key, on_message, on_close), sock=sock)
            await proto.handshake
    except BaseException:
        if proto is not None and proto.transport is not None:
            proto.closed = True  # the caller learns of the failure from the exception only
            proto.transport.close()
        else:
            sock.close()
        raise
    return proto
