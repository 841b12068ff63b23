"""Every use of a library's private internals, in one place, checked against the versions it
was written for.

The fast socket path (`wsprotocol`, `httpprotocol`) needs a few things no public API offers:

- **asyncio.Queue**: whether the app waits in `receive()` with nothing queued (`_getters`,
  `_queue`), so a message may be handled right in the read callback without overtaking one;
- **websockets' sans-I/O parser**: whether it sits between frames (its generator chain rests in
  `StreamReader.at_eof`, nothing buffered, no fragmented message open), so a small frame may be
  unmasked here instead; and its C `apply_mask`;
- **uvicorn's protocol classes**: we subclass `HttpToolsProtocol` and
  `WebSocketsSansIOProtocol` and override or read the members listed in `UVICORN_MEMBERS`.

`incompatibilities()` checks all of it, by version and by shape (a real parser is driven to a
frame boundary and into a frame; a real queue gets a waiting reader). `livequiz serve` refuses
to start when anything is off, and tests/test_fastpath_adapter.py fails, rather than every
socket breaking silently after an upgrade. The versions are pinned in pyproject.toml (upper
bounds) and constraints.txt (exact).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import re
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import apply_mask  # type: ignore[attr-defined]  # C speedups when built
from websockets.http11 import Request
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

__all__ = [
    "HttpProtocolBase", "WebSocketProtocolBase", "between_frames", "incompatibilities", "queue_reader_waiting",
    "request_body_pending", "unmask",
]

#: The versions this module was written and tested for: (lowest, first one not allowed).
SUPPORTED = {"uvicorn": ("0.55.0", "0.56"), "websockets": ("17.4", "17.5")}

HttpProtocolBase = HttpToolsProtocol
WebSocketProtocolBase = WebSocketsSansIOProtocol

#: Members of uvicorn's classes that our subclasses override or read.
UVICORN_MEMBERS: dict[type, tuple[str, ...]] = {
    HttpToolsProtocol: (
        "connection_made", "connection_lost", "on_message_begin", "on_headers_complete", "on_message_complete",
        "handle_websocket_upgrade", "shutdown",
    ),
    WebSocketsSansIOProtocol: (
        "connection_lost", "data_received", "handle_connect", "handle_ping", "handle_pong",
        "send_receive_event_to_app",
    ),
}
#: Attributes their `__init__` or handlers set, which we read or set (checked in the source).
UVICORN_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    HttpToolsProtocol: ("self.cycle", "self.parser", "self.client", "self.loop", "self.transport"),
    WebSocketsSansIOProtocol: (
        "self.conn", "self.queue", "self.frames", "self.curr_msg_data_type", "self.close_sent", "self.transport",
        "self.handshake_complete", "self.handshake_initiated", "self.disconnected", "self.connections",
        "self.config", "self.logger", "self.loop", "self.request", "self.response", "self.scope",
    ),
}
_AT_EOF = StreamReader.at_eof.__code__


def queue_reader_waiting(queue: asyncio.Queue[Any]) -> bool:
    """Nothing queued and a reader waiting in `get()` (asyncio.Queue internals)."""
    getters = queue._getters  # type: ignore[attr-defined]
    return not queue._queue and any(not getter.done() for getter in getters)  # type: ignore[attr-defined]


def between_frames(conn: Any) -> bool:
    """The websockets protocol `conn` is open and its parser waits for the first byte of a
    frame: not inside a frame's header, length, mask or payload, nor a fragmented message."""
    if conn.state is not OPEN or conn.current_size is not None or conn.reader.buffer:
        return False
    parser = conn.parser
    for _ in range(8):  # ServerProtocol.parse -> Protocol.parse -> StreamReader.at_eof
        inner = getattr(parser, "gi_yieldfrom", None)
        if inner is None:
            return getattr(parser, "gi_code", None) is _AT_EOF
        parser = inner
    return False


def unmask(payload: bytes, mask: bytes) -> bytes:
    """A client frame's payload, unmasked (websockets' C speedup when built)."""
    return bytes(apply_mask(payload, mask))


def request_body_pending(cycle: RequestResponseCycle | None) -> bool:
    """The request of `cycle` still waits for body bytes (uvicorn's cycle internals)."""
    return cycle is not None and not cycle.response_complete and bool(cycle.more_body)


def _version_problems() -> list[str]:
    problems = []
    for package, (lowest, ceiling) in SUPPORTED.items():
        installed = importlib.metadata.version(package)
        if not _at_least(installed, lowest) or _at_least(installed, ceiling):
            problems.append(f"{package} {installed} is not in [{lowest}, {ceiling}) (gameserver.fastpath_adapter)")
    return problems


def _at_least(version: str, floor: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else 0 for p in text.split(".")[:3])

    return parts(version) >= parts(floor)


def _queue_problems() -> list[str]:
    async def probe() -> list[str]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        if not hasattr(queue, "_getters") or not hasattr(queue, "_queue"):
            return ["asyncio.Queue has no _getters/_queue"]
        waiter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        waiting = queue_reader_waiting(queue)
        queue.put_nowait(1)
        await waiter
        queue.put_nowait(2)
        problems = [] if waiting else ["asyncio.Queue: a waiting reader is not seen"]
        if queue_reader_waiting(queue):
            problems.append("asyncio.Queue: a queued item is not seen")
        return problems

    return asyncio.run(probe()) if not _loop_running() else []


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _parser_problems() -> list[str]:
    conn = ServerProtocol()
    conn.receive_data(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    (request,) = conn.events_received()
    if not isinstance(request, Request):
        return ["websockets: a handshake request is not parsed as one"]
    conn.send_response(conn.accept(request))
    problems: list[str] = []
    if not between_frames(conn):
        problems.append("websockets: an idle parser is not seen between frames")
    conn.receive_data(b"\x81\x85")  # a masked text frame's header, then nothing
    if between_frames(conn):
        problems.append("websockets: a parser inside a frame is seen between frames")
    if unmask(b"\x01\x02", b"\x01\x02\x03\x04") != b"\x00\x00":
        problems.append("websockets: apply_mask does not unmask")
    return problems


def _sets(source: str, attribute: str) -> bool:
    """`attribute` is assigned somewhere in `source` (with or without an annotation)."""
    return re.search(re.escape(attribute) + r"\s*(:[^=\n]*)?=[^=]", source) is not None


def _uvicorn_problems() -> list[str]:
    problems: list[str] = []
    for cls, members in UVICORN_MEMBERS.items():
        problems.extend(f"uvicorn: {cls.__name__}.{m} is gone" for m in members if not callable(getattr(cls, m, None)))
    for cls, attributes in UVICORN_ATTRIBUTES.items():
        source = inspect.getsource(cls)
        problems.extend(f"uvicorn: {cls.__name__} no longer sets {a}" for a in attributes if not _sets(source, a))
    cycle_source = inspect.getsource(RequestResponseCycle)
    problems.extend(
        f"uvicorn: RequestResponseCycle has no {a}" for a in ("self.more_body", "self.response_complete")
        if not _sets(cycle_source, a)
    )
    return problems


def incompatibilities() -> list[str]:
    """What does not match the internals this module relies on; empty when all is well."""
    return [*_version_problems(), *_queue_problems(), *_parser_problems(), *_uvicorn_problems()]
