"""A minimal WebSocket client on a bare non-blocking socket (RFC 6455, client side only).

Why not `websockets`: a simulated player must cost as little CPU as possible so that the
harness, which shares the 2-core box with the server, does not measure itself. This client has
no per-message task, queue or future: a readable socket is read in a loop callback, frames are
parsed and the owner's `on_message` is called directly. It supports exactly what a protocol-v1
client needs: one subprotocol, text/binary messages (fragmented or not), ping → pong, close.
No extensions are offered, so the server never compresses.

Why a bare socket and not an asyncio transport: every read also brings the **kernel's receive
timestamp** (`SO_TIMESTAMPNS`, read with `recvmsg`), the moment the bytes reached this socket.
On one 2-core box the client processes queue behind the server for the CPU: at 10,000 players a
message can wait ~100 ms in the socket before its client process gets to it, which is the load
generator's own lag, not the server's. `arrived_ms` holds the stamp of the read being parsed;
when a read holds several messages it is that of the newest bytes (an upper bound for the
others). Where the kernel gives no stamp, it is the time of the read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_getrandbits = random.getrandbits

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the port at connect() time, per 4-tuple
SO_TIMESTAMPNS = 35  # Linux (asm-generic): a `struct timespec` receive stamp per recvmsg
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
RECV_BYTES = 65536
ANCILLARY_BYTES = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("@qq")


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


def _stamp_ms(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive stamp from `recvmsg` ancillary data, else now (ms, wall clock)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return float(sec * 1000.0 + nsec / 1_000_000.0)
    return time.time() * 1000.0


class WSClient:
    """One client connection. `on_message(data, is_text, arrived_ms)` is called per complete
    message, with the kernel's receive stamp of its bytes; `on_close(code)` once when the
    connection ends (code 1006 when no close frame came)."""

    __slots__ = (
        "_buf",
        "_close_after_flush",
        "_fd",
        "_frag",
        "_frag_text",
        "_key",
        "_loop",
        "_out",
        "_request",
        "arrived_ms",
        "close_code",
        "closed",
        "handshake",
        "on_close",
        "on_message",
        "sock",
        "subprotocol",
    )

    def __init__(
        self,
        sock: socket.socket,
        request: bytes,
        key: bytes,
        on_message: Callable[[bytes, bool, float], Any],
        on_close: Callable[[int], Any],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._request = request
        self._key = key
        self._buf = bytearray()
        self._out = bytearray()  # bytes the kernel did not take yet (sent when writable)
        self._close_after_flush = False
        self._frag: bytearray | None = None
        self._frag_text = False
        self.on_message = on_message
        self.on_close = on_close
        self.arrived_ms = 0.0
        self.handshake: asyncio.Future[None] = self._loop.create_future()
        self.subprotocol: str | None = None
        self.closed = False
        self.close_code = 1006

    # -- socket I/O ---------------------------------------------------------------------------
    def start(self) -> None:
        """Begin reading and send the upgrade request (the socket is connected)."""
        self._loop.add_reader(self._fd, self._readable)
        self._put(self._request)

    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            data, ancillary, _flags, _addr = sock.recvmsg(RECV_BYTES, ANCILLARY_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(None)
            return
        self.arrived_ms = _stamp_ms(ancillary)
        self.data_received(data)

    def _put(self, data: bytes) -> None:
        """Write `data` after anything still pending; what the kernel won't take waits."""
        sock = self.sock
        if sock is None:
            return
        if self._out:
            self._out += data
            return
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent < len(data):
            self._out += data[sent:]
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            sent = sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._fd)
            if self._close_after_flush:
                self._drop()

    def _shut(self) -> None:
        """Close the socket once what is pending has been written (as a transport would)."""
        if self._out:
            self._close_after_flush = True
            self._loop.remove_reader(self._fd)
        else:
            self._drop()

    def _drop(self) -> None:
        sock = self.sock
        if sock is None:
            return
        self.sock = None
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._out.clear()
        sock.close()

    def _lost(self, exc: Exception | None) -> None:
        self._drop()
        self.connection_lost(exc)

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
            self._drop()
            return
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            self.handshake.set_exception(HandshakeError(status, "bad Sec-WebSocket-Accept"))
            self.closed = True
            self._drop()
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
                self.on_message(payload, opcode == OP_TEXT, self.arrived_ms)
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
                self.on_message(data, self._frag_text, self.arrived_ms)
        elif opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._write(OP_CLOSE, payload[:2])
            self.closed = True
            self._shut()
            self.on_close(self.close_code)

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.sock is not None and not self._close_after_flush:
            self._put(encode_frame(opcode, payload))

    # -- public -------------------------------------------------------------------------------
    def send(self, payload: bytes, text: bool) -> bool:
        """Send one message; False when the connection is already gone."""
        if self.closed or self.sock is None or self._close_after_flush:
            return False
        self._put(encode_frame(OP_TEXT if text else OP_BIN, payload))
        return self.sock is not None

    def close(self, code: int = 1000) -> None:
        """Send a close frame and drop the connection (no wait for the server's close)."""
        if self.closed:
            return
        self._write(OP_CLOSE, code.to_bytes(2, "big"))
        self.closed = True
        self.close_code = code
        self._shut()
        self.on_close(code)


async def connect(
    host: str,
    port: int,
    path: str,
    on_message: Callable[[bytes, bool, float], Any],
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
    client: WSClient | None = None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):  # no kernel stamps: reads are stamped when read
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if source_ip:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source_ip, 0))
        sock.setblocking(False)
        async with asyncio.timeout(within):
            await loop.sock_connect(sock, (host, port))
            client = WSClient(sock, request, key, on_message, on_close)
            client.start()
            await client.handshake
    except BaseException:
        if client is not None:
            client.closed = True  # the caller learns of the failure from the exception only
            client._drop()
        else:
            sock.close()
        raise
    return client
