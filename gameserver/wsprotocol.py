"""A broadcast-friendly WebSocket protocol for uvicorn.

A server-to-client WebSocket frame is not masked, so with no per-connection extension (we turn
permessage-deflate off: compressing tiny JSON per socket is pure CPU) the frame for a broadcast
is the same bytes for every recipient. uvicorn's sans-I/O protocol already writes frames
synchronously; this subclass hands the app a `RawWriter` through the ASGI scope extension
`livequiz.raw`, so the hub builds a frame once and writes it to each socket's transport with
no coroutine, task switch or per-socket framing in between — close to the kernel's floor.
Apps served by anything else simply don't see the extension and use the ASGI send path.

The receive side has a matching shortcut: a session may install a *fast path*, a plain
function called from the socket's read callback with each complete message while the app sits
idle in `receive()`. Whatever it takes (an answer, the hot message of a game) skips the ASGI
queue, a task wake-up, Starlette's receive chain and uvicorn's pause/resume of reading (two
`epoll_ctl` calls per message); whatever it declines is queued as before, in order.

A message that arrives as exactly one small, final, masked data frame in one read (every
answer) is also unmasked here rather than run through `websockets`' generator-based parser,
when that parser sits between frames with nothing buffered; anything else (a frame split
across reads, fragments, control frames, larger frames, a declined message) goes to the
parser, so its state is only ever skipped over at a frame boundary. (What this needs of
uvicorn's, websockets' and asyncio's internals is in `fastpath_adapter`, checked there.)

Control frames (ping, pong) are answered inside this protocol and never reach the app, so they
are counted here, against the same token bucket as the socket's messages (the session hands
its `RateLimiter` over, `RawWriter.share_rate_limiter`): a socket flooding pings is refused
like one flooding messages, and closed with 1008 after its strikes. A read is fed to the parser
in slices of `PARSE_SLICE_BYTES`, so that one read full of tiny frames (a 64 KiB read holds
~10,000 pings) is cut off at the first slice past the close instead of parsed whole while
every other socket waits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gameserver.clock import Clock
from gameserver.connguard import OPEN_CONNECTIONS
from gameserver.fastpath_adapter import WebSocketProtocolBase, between_frames, queue_reader_waiting, unmask
from gameserver.ratelimit import RateLimiter

RAW_EXTENSION = "livequiz.raw"
#: Key added to each `websocket.receive` message: server clock (ms) when the frame was parsed,
#: before it waited in any queue. Answers are timed by it, so a busy event loop does not cost
#: players points.
RECEIVED_MS = "livequiz.received_ms"
#: A session's fast path: (message payload, received ms) -> True when it handled the message.
FastPath = Callable[[str | bytes, int], bool]
#: The process clock's wall nanoseconds (`Clock.wall_ns`), bound once here: the stamp of every
#: message is `_wall_ns() // 1_000_000`, with no call layer between the read and the clock
#: (with `SystemClock` this is `time.time_ns` itself). Set by `stamp_with` at the app's start.
_wall_ns: Callable[[], int] = time.time_ns
#: The process clock's monotonic seconds (`Clock.monotonic`): the "server full" warning's rate.
_monotonic: Callable[[], float] = time.monotonic
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
#: Bytes of one read handed to the parser at a time (see the module's docstring).
PARSE_SLICE_BYTES = 1024
#: Close code for a socket that kept flooding after it was refused (RFC 6455: policy violation).
CLOSE_POLICY = 1008
#: The control-frame budget of a socket before its session shares the session's own: the
#: defaults of `Settings.rate_per_s`, `rate_burst`, `rate_strikes`.
DEFAULT_RATE = (10.0, 20, 20)
#: Seconds a socket closed for flooding is kept (not read) so that its close frame arrives.
FLOODER_LINGER_S = 0.2


def frame_bytes(payload: str | bytes) -> bytes:
    """One final, unmasked server frame carrying `payload` (text for str, binary for bytes)."""
    if isinstance(payload, str):
        return frame_of(payload.encode(), text=True)
    return frame_of(payload, text=False)


_HEADER_16 = struct.Struct(">BBH").pack
_HEADER_64 = struct.Struct(">BBQ").pack


def frame_header(length: int, *, text: bool) -> bytes:
    """The header of one final, unmasked server frame of `length` payload bytes."""
    first = 0x80 | (OPCODE_TEXT if text else OPCODE_BINARY)
    if length < 126:
        return bytes((first, length))
    if length < 0x10000:
        return _HEADER_16(first, 126, length)
    return _HEADER_64(first, 127, length)


def frame_of(data: bytes, *, text: bool) -> bytes:
    """One final, unmasked server frame around already-encoded `data`."""
    return frame_header(len(data), text=text) + data


class RawWriter:
    """Synchronous frame writer for one open WebSocket."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: FastWebSocketProtocol) -> None:
        self._protocol = protocol

    def usable(self) -> bool:
        p = self._protocol
        # Frames may be written as they are only when no extension rewrites them.
        return p.handshake_complete and not p.conn.extensions

    def write(self, frame: bytes) -> int:
        """Write prebuilt frames; returns the bytes still unsent, or -1 when the socket is
        closing or gone (one call per socket and message: it is the fan-out's inner loop)."""
        p = self._protocol
        transport = p.transport
        if p.disconnected or p.close_sent or transport.is_closing():
            return -1
        transport.write(frame)
        return int(transport.get_write_buffer_size())

    def buffered(self) -> int:
        return int(self._protocol.transport.get_write_buffer_size())

    def set_fast_path(self, handler: FastPath | None) -> None:
        """Install (or, with None, remove: it refers back to the session) the receive fast path."""
        self._protocol.fast_path = handler

    def share_rate_limiter(self, limiter: RateLimiter) -> None:
        """Count this socket's control frames against `limiter` (the session's message budget)."""
        self._protocol.limiter = limiter


def stamp_with(clock: Clock) -> None:
    """Stamp received messages with `clock`, and time the "server full" warnings by it (the
    app's; one per process, as the protocol is)."""
    global _wall_ns, _monotonic
    _wall_ns = clock.wall_ns
    _monotonic = clock.monotonic


class _StampingQueue(asyncio.Queue[Any]):
    def put_nowait(self, item: Any) -> None:
        if item.get("type") == "websocket.receive":
            item[RECEIVED_MS] = _wall_ns() // 1_000_000
        super().put_nowait(item)

    def reader_waiting(self) -> bool:
        """Nothing queued and the app waiting in `receive()`: a message handled now is handled
        exactly where its turn would have been."""
        return queue_reader_waiting(self)


@functools.cache
def connection_logger() -> logging.Logger:
    """uvicorn logs two INFO lines per WebSocket ("[accepted]", "connection open"): 20,000
    lines for a 10k-player join storm, a measurable share of its CPU. They go to this child
    of `uvicorn.error`, which shows them only at `--log-level debug` (errors always)."""
    logger = logging.getLogger("uvicorn.error.connections")
    if logging.getLogger("uvicorn.error").getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.WARNING)
    return logger


#: First byte of a final, unfragmented text or binary frame with no extension bits.
_FINAL_DATA = {0x81: True, 0x82: False}  # -> is text
#: A masked frame with a 7-bit length: 2 header bytes, 4 mask bytes, at most 125 payload bytes.
_SMALL_MASKED_MAX = 6 + 125
#: A final pong frame from the server (unmasked): how its bytes begin.
_PONG_FIRST_BYTE = b"\x8a"


def _offer(fast: FastPath, data: bytes, *, text: bool) -> bool:
    """Give one complete message to the fast path, stamped now. False when it declines, or for
    bad UTF-8 in a text message: the queued path or the parser reports that (close 1007)."""
    try:
        message: str | bytes = data.decode() if text else data
    except UnicodeDecodeError:
        return False
    return bool(message) and fast(message, _wall_ns() // 1_000_000)


#: The body of the 503 that refuses a handshake when the process is full (the HTTP API's form).
SERVER_FULL_BODY = '{"error": {"code": "server_full", "message": "This server is full; try again shortly."}}'
#: Seconds a refused client is asked to wait (`Retry-After`) when the process is full.
RETRY_AFTER_S = 5
#: At most one "full" warning per this many seconds: a storm of refusals must not flood the log.
FULL_WARNING_INTERVAL_S = 10.0
_last_full_warning = [0.0]


class FastWebSocketProtocol(WebSocketProtocolBase):
    # Class-level defaults, set on an instance only when needed: most sockets never send a
    # control frame, and a game holds thousands of them.
    limiter: RateLimiter | None = None  # the session's, once it shares it
    _pongs: deque[bytes] | None = None  # see `handle_ping`
    flooded = False  # closed for flooding: nothing more is read

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: _StampingQueue = _StampingQueue()
        self.logger = self.conn.logger = connection_logger()
        self.fast_path: FastPath | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        OPEN_CONNECTIONS.release(self.transport)  # counted by the HTTP protocol it was upgraded from
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        fast = self.fast_path
        if fast is not None and 6 < len(data) <= _SMALL_MASKED_MAX and self._take_small_frame(data, fast):
            return
        if self.flooded:
            return
        if len(data) <= PARSE_SLICE_BYTES:
            super().data_received(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), PARSE_SLICE_BYTES):
            if self.flooded or self.transport.is_closing():  # the rest is not parsed
                return
            super().data_received(bytes(view[start:start + PARSE_SLICE_BYTES]))

    def handle_ping(self) -> None:
        # The parser queued a pong for every ping of the read before any event is handled: so
        # each ping event takes its own pong out of the queue, written when the ping is within
        # budget, dropped when not (other frames queued there go out as they are, in order).
        allowed = self._allow_control_frame()
        pongs = self._pongs
        if pongs is None:
            pongs = self._pongs = deque()
        for chunk in self.conn.data_to_send():
            if chunk[:1] == _PONG_FIRST_BYTE:
                pongs.append(chunk)
            else:
                self.transport.write(chunk)
        if pongs:
            pong = pongs.popleft()
            if allowed and not self.flooded and not self.transport.is_closing():
                self.transport.write(pong)

    def handle_pong(self, event: Any) -> None:
        if self._allow_control_frame():
            super().handle_pong(event)

    def _allow_control_frame(self) -> bool:
        """Charge one control frame to the socket's budget; a refused ping gets no pong, and
        a socket out of strikes is closed 1008 at once."""
        limiter = self.limiter
        if limiter is None:
            limiter = self.limiter = RateLimiter(*DEFAULT_RATE)
        if limiter.allow():
            return True
        if limiter.abusive and not self.flooded:
            self._close_flooder()
        return False

    def _close_flooder(self) -> None:
        """Send close 1008 and stop reading: what the flooder sends next waits in the kernel
        (costing us nothing) until the connection is dropped `FLOODER_LINGER_S` later. Closing
        at once would make the kernel answer the unread data with a reset, which can reach the
        client before the close frame does."""
        self.logger.warning("closing a WebSocket that floods control frames")
        self.flooded = True
        self._pongs = None
        self.conn.data_to_send()  # pongs queued by the parser: not for a flooder
        self.conn.send_close(CLOSE_POLICY, "too many frames")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.pause_reading()
        self.loop.call_later(FLOODER_LINGER_S, self.transport.abort)

    def _take_small_frame(self, data: bytes, fast: FastPath) -> bool:
        """Hand one complete small masked data frame straight to the fast path; False (nothing
        consumed) when it is not exactly that, the parser is mid-frame, or the path declines."""
        text = _FINAL_DATA.get(data[0])
        if text is None or data[1] != 0x80 | (len(data) - 6):  # masked, length = the rest
            return False
        if (
            not between_frames(self.conn)
            or self.frames
            or self.close_sent
            or not self.queue.reader_waiting()
        ):
            return False
        return _offer(fast, unmask(data[6:], data[2:6]), text=text)

    def send_receive_event_to_app(self) -> None:
        fast = self.fast_path
        if (
            fast is not None
            and len(self.frames) == 1
            and not self.close_sent
            and self.queue.reader_waiting()
            and _offer(fast, self.frames[0], text=self.curr_msg_data_type == "text")
        ):
            self.frames = []
            return
        super().send_receive_event_to_app()

    def handle_connect(self, event: Any) -> None:
        limit = self.config.limit_concurrency
        if limit is not None and len(self.connections) > limit:  # this one is counted too
            self._refuse_full(event, limit)
            return
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][RAW_EXTENSION] = RawWriter(self)

    def _refuse_full(self, request: Any, limit: int) -> None:
        """Answer the handshake with HTTP 503 and close: the process holds as many connections
        as its open files allow (`openfiles`). Refused whole, before any file or task of the
        app is spent on it, so the players already connected lose nothing."""
        response = self.conn.reject(503, SERVER_FULL_BODY)
        response.headers["Content-Type"] = "application/json"
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        self.request = request
        self.response = response
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()
        now = _monotonic()
        if now - _last_full_warning[0] >= FULL_WARNING_INTERVAL_S:
            _last_full_warning[0] = now
            self.logger.warning("refusing WebSocket connections: %d held, the limit of this process", limit)
