"""The raw send path's frames, the receive timestamp and the small-frame receive path, checked
against websockets' parser and a real uvicorn server."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gameserver.wsprotocol import RAW_EXTENSION, RECEIVED_MS, _StampingQueue, frame_bytes, frame_of
from tests.support import free_port


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
@pytest.mark.parametrize("text", [True, False])
def test_frames_parse_as_one_final_unmasked_frame(size: int, text: bool) -> None:
    data = (b"x" * size)
    frame = parse(frame_of(data, text=text))
    assert frame.fin and frame.data == data
    assert frame.opcode is (Opcode.TEXT if text else Opcode.BINARY)


def test_str_payload_is_a_text_frame() -> None:
    frame = parse(frame_bytes('{"type":"pong","name":"Zoë"}'))
    assert frame.opcode is Opcode.TEXT and bytes(frame.data).decode() == '{"type":"pong","name":"Zoë"}'


def test_received_frames_are_stamped_when_queued() -> None:
    queue = _StampingQueue()
    before = time.time_ns() // 1_000_000
    queue.put_nowait({"type": "websocket.receive", "text": "{}"})
    queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
    received = queue.get_nowait()
    assert before <= received[RECEIVED_MS] <= time.time_ns() // 1_000_000
    assert RECEIVED_MS not in queue.get_nowait()


# -- small frames taken without websockets' parser ---------------------------------------------


class _Recorder:
    """An ASGI app: accepts, installs a fast path that takes text messages starting with "f",
    and records where each message arrived (fast path or queued ASGI path), in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | bytes]] = []
        self.closed: asyncio.Event = asyncio.Event()

    def fast(self, message: str | bytes, received_ms: int) -> bool:
        if isinstance(message, str) and not message.startswith("f"):
            return False
        self.seen.append(("fast", message))
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        await receive()
        await send({"type": "websocket.accept"})
        raw = scope["extensions"][RAW_EXTENSION]
        raw.set_fast_path(self.fast)
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                self.closed.set()
                return
            self.seen.append(("queued", event.get("text") or event.get("bytes") or b""))


def _masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    assert len(payload) < 126
    head = bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload)))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.fixture
async def recorder_server() -> AsyncIterator[tuple[_Recorder, int]]:
    app = _Recorder()
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning",
        ws="gameserver.wsprotocol:FastWebSocketProtocol", ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "server failed to start"
        await asyncio.sleep(0.01)
    yield app, port
    server.should_exit = True
    await task


async def _open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def _settle() -> None:
    await asyncio.sleep(0.05)  # each write arrives as its own read on the server


async def test_small_frames_skip_the_parser_and_everything_else_keeps_its_order(
    recorder_server: tuple[_Recorder, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, port = recorder_server
    parsed: list[bytes] = []
    original = WebSocketsSansIOProtocol.data_received

    def spy(self: WebSocketsSansIOProtocol, data: bytes) -> None:
        parsed.append(data)
        original(self, data)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "data_received", spy)
    reader, writer = await _open_raw(port)
    await _settle()
    parsed.clear()

    split = _masked(0x1, b"f3" * 40)
    steps: list[bytes | tuple[bytes, bytes]] = [
        _masked(0x1, b"f1"),  # small, whole: taken here
        _masked(0x2, b"\x00bin"),  # binary too
        _masked(0x1, b"q2"),  # declined by the fast path: queued, through the parser
        (split[:30], split[30:]),  # split across two reads: the parser must see both halves
        _masked(0x1, b"f4"),  # the parser is at a boundary again: taken here
        _masked(0x1, b"f5", fin=False) + _masked(0x0, b"-cont"),  # fragmented: the parser's
        _masked(0x1, b"f6") + _masked(0x1, b"f7"),  # two frames in one read: the parser
        _masked(0x9, b"ping"),  # control frame: the parser (answers with a pong)
        _masked(0x1, b"f8"),
    ]
    for step in steps:
        for part in step if isinstance(step, tuple) else (step,):
            writer.write(part)
            await _settle()

    assert app.seen == [
        ("fast", "f1"),
        ("fast", b"\x00bin"),
        ("queued", "q2"),
        ("fast", "f3" * 40),
        ("fast", "f4"),
        ("queued", "f5-cont"),  # several frames: the queued path
        ("fast", "f6"),
        ("fast", "f7"),
        ("fast", "f8"),
    ]
    # The parser saw exactly the reads that were not one small whole frame.
    assert len(parsed) == 6  # q2, both halves of f3, f5+cont, f6+f7, the ping
    pong = await asyncio.wait_for(reader.readexactly(6), 2)
    assert pong == b"\x8a\x04ping"
    writer.write(_masked(0x8, b"\x03\xe8"))
    await asyncio.wait_for(app.closed.wait(), 2)
    writer.close()


async def test_invalid_utf8_in_a_small_frame_still_closes_with_1007(recorder_server: tuple[_Recorder, int]) -> None:
    app, port = recorder_server
    reader, writer = await _open_raw(port)
    await _settle()
    writer.write(_masked(0x1, b"f\xff"))
    close = await asyncio.wait_for(reader.readexactly(4), 2)
    assert close == b"\x88\x02\x03\xef"  # close, code 1007
    assert app.seen == []
    writer.close()
