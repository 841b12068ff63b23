"""The raw send path's frames and the receive timestamp, checked against websockets' parser."""

from __future__ import annotations

import time

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gameserver.wsprotocol import RECEIVED_MS, _StampingQueue, frame_bytes, frame_of


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
    assert frame.opcode is Opcode.TEXT and frame.data.decode() == '{"type":"pong","name":"Zoë"}'


def test_received_frames_are_stamped_when_queued() -> None:
    queue = _StampingQueue()
    before = time.time_ns() // 1_000_000
    queue.put_nowait({"type": "websocket.receive", "text": "{}"})
    queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
    received = queue.get_nowait()
    assert before <= received[RECEIVED_MS] <= time.time_ns() // 1_000_000
    assert RECEIVED_MS not in queue.get_nowait()
