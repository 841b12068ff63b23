"""Protocol-v1 codecs as the harness sees them: the subprotocol name, encode, decode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson

SUBPROTOCOLS = {"json": "quiz.v1.json", "msgpack": "quiz.v1.msgpack"}


@dataclass(frozen=True)
class Codec:
    name: str
    subprotocol: str
    text: bool  # frame kind we send
    encode: Callable[[dict[str, Any]], bytes]
    decode: Callable[[bytes], Any]


_unpackb = msgpack.unpackb


def _mp_decode(data: bytes) -> Any:
    return _unpackb(data, raw=False)


JSON = Codec("json", SUBPROTOCOLS["json"], True, orjson.dumps, orjson.loads)
MSGPACK = Codec("msgpack", SUBPROTOCOLS["msgpack"], False, msgpack.packb, _mp_decode)


def get_codec(name: str) -> Codec:
    """`json` or `msgpack`."""
    if name == "json":
        return JSON
    if name == "msgpack":
        return MSGPACK
    raise ValueError(f"unknown codec {name!r} (json|msgpack)")
