"""Wire codecs, separate from the socket that carries them (DESIGN.md principle 6).

One WebSocket endpoint serves web (JSON text frames) and mobile (MessagePack binary frames);
the subprotocol picks the codec. A broadcast is encoded once per codec: `prepare()` encodes the
shared part, and `extend()` appends a player's personal fields (`you`) to those bytes without
re-encoding the shared part.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import msgpack
import orjson

from statemachine.errors import BadMessage

JSON_SUBPROTOCOL = "quiz.v1.json"
MSGPACK_SUBPROTOCOL = "quiz.v1.msgpack"

Frame = str | bytes


class Prepared:
    """A message encoded once; `extend()` turns it into per-recipient frames cheaply."""

    __slots__ = ("body", "count", "frame")

    def __init__(self, frame: Frame, body: bytes, count: int) -> None:
        self.frame = frame  # the message as is, ready to send to anyone
        self.body = body  # codec-specific encoded fields, for extend()
        self.count = count  # number of top-level fields in body


class Splice(NamedTuple):
    """A message with one field added per recipient: `head + encode(value) + tail` (the parts
    are kept apart so that a writer can join them with its own framing in one allocation)."""

    head: bytes
    encode: Callable[[Any], bytes]
    tail: bytes

    def __call__(self, value: Any) -> bytes:
        return self.head + self.encode(value) + self.tail


class Codec(Protocol):
    subprotocol: str
    binary: bool

    def decode(self, data: str | bytes) -> dict[str, Any]: ...

    def encode(self, message: Mapping[str, Any]) -> Frame: ...

    def prepare(self, message: Mapping[str, Any]) -> Prepared: ...

    def extend(self, prepared: Prepared, extra: Mapping[str, Any]) -> Frame: ...

    def extend_bytes(self, prepared: Prepared, extra: Mapping[str, Any]) -> bytes:
        """`extend` as encoded bytes (UTF-8 for a text codec): for writers that frame bytes."""
        ...

    def splicer(self, prepared: Prepared, key: str) -> Splice:
        """`extend_bytes(prepared, {key: value})` as `head + encode(value) + tail`, with all that
        does not depend on the value done once (a reveal's `you`, 10,000 times)."""
        ...


def _check_message(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadMessage("a message must be an object")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise BadMessage("a message needs a string field 'type'")
    return value


class JsonCodec:
    """JSON in text frames. Decoding accepts binary frames holding UTF-8 JSON too."""

    subprotocol = JSON_SUBPROTOCOL
    binary = False

    def decode(self, data: str | bytes) -> dict[str, Any]:
        try:
            value = orjson.loads(data)
        except (orjson.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise BadMessage("not valid JSON") from exc
        return _check_message(value)

    def encode(self, message: Mapping[str, Any]) -> Frame:
        return orjson.dumps(message).decode()

    def prepare(self, message: Mapping[str, Any]) -> Prepared:
        body = orjson.dumps(message)
        return Prepared(body.decode(), body, len(message))

    def extend(self, prepared: Prepared, extra: Mapping[str, Any]) -> Frame:
        if not extra:
            return prepared.frame
        tail = orjson.dumps(extra)
        if prepared.count == 0:
            return tail.decode()
        # '{"a":1}' + '{"you":..}' -> '{"a":1,"you":..}': JSON objects splice at the brace.
        return (prepared.body[:-1] + b"," + tail[1:]).decode()

    def extend_bytes(self, prepared: Prepared, extra: Mapping[str, Any]) -> bytes:
        if not extra:
            return prepared.body
        tail = orjson.dumps(extra)
        return tail if prepared.count == 0 else prepared.body[:-1] + b"," + tail[1:]

    def splicer(self, prepared: Prepared, key: str) -> Splice:
        name = orjson.dumps(key)
        head = b"{" + name + b":" if prepared.count == 0 else prepared.body[:-1] + b"," + name + b":"
        return Splice(head, orjson.dumps, b"}")


def _map_header(count: int) -> bytes:
    if count < 16:
        return bytes((0x80 | count,))
    if count < 0x10000:
        return b"\xde" + struct.pack(">H", count)
    return b"\xdf" + struct.pack(">I", count)


class MsgpackCodec:
    """MessagePack maps in binary frames: the same messages and fields as JSON."""

    subprotocol = MSGPACK_SUBPROTOCOL
    binary = True

    def __init__(self, max_message_bytes: int = 64 * 1024) -> None:
        self._max = max_message_bytes

    def decode(self, data: str | bytes) -> dict[str, Any]:
        if isinstance(data, str):
            raise BadMessage("this socket speaks MessagePack in binary frames")
        if len(data) > self._max:
            raise BadMessage("message too large")
        try:
            value = msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=True,
                max_str_len=self._max,
                max_bin_len=self._max,
                max_array_len=1024,
                max_map_len=256,
                max_ext_len=0,
            )
        except Exception as exc:  # msgpack raises many unrelated types for bad bytes
            raise BadMessage("not valid MessagePack") from exc
        return _check_message(value)

    def encode(self, message: Mapping[str, Any]) -> Frame:
        return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]

    def prepare(self, message: Mapping[str, Any]) -> Prepared:
        packer = msgpack.Packer(use_bin_type=True)
        body = b"".join(packer.pack(key) + packer.pack(value) for key, value in message.items())
        return Prepared(_map_header(len(message)) + body, body, len(message))

    def extend(self, prepared: Prepared, extra: Mapping[str, Any]) -> Frame:
        if not extra:
            return prepared.frame
        packer = msgpack.Packer(use_bin_type=True)
        tail = b"".join(packer.pack(key) + packer.pack(value) for key, value in extra.items())
        return _map_header(prepared.count + len(extra)) + prepared.body + tail

    def extend_bytes(self, prepared: Prepared, extra: Mapping[str, Any]) -> bytes:
        frame = self.extend(prepared, extra)
        assert isinstance(frame, bytes)
        return frame

    def splicer(self, prepared: Prepared, key: str) -> Splice:
        packer = msgpack.Packer(use_bin_type=True)
        head: bytes = _map_header(prepared.count + 1) + prepared.body + packer.pack(key)
        return Splice(head, packer.pack, b"")


CODECS: dict[str, Codec] = {
    JSON_SUBPROTOCOL: JsonCodec(),
    MSGPACK_SUBPROTOCOL: MsgpackCodec(),
}


def pick_codec(offered: list[str]) -> Codec:
    """The first offered subprotocol we speak; JSON when none is offered or known."""
    for name in offered:
        codec = CODECS.get(name)
        if codec is not None:
            return codec
    return CODECS[JSON_SUBPROTOCOL]
