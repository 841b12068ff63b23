"""Wire preparation: one message made ready for many sockets, at most once per codec.

Theory of operation. A game message goes to every socket of its room, and nearly all of it is
the same for everyone: it is encoded once per codec (`Codec.prepare`) and framed once
(`Broadcast.wire_for`), and that one `bytes` object is queued on every socket speaking that
codec. What differs per player is its own `you` (its points, its rank): that is encoded alone
and spliced onto the shared bytes (`Codec.splicer`), never re-encoding the whole message; a
socket still on the ASGI path gets `Codec.extend` instead (`Broadcast.send_to`).

`player_wires` builds, for one codec, the function the delivery loop (`delivery.py`) calls
once per socket: player id -> every frame of the event for that player, concatenated, so a
reveal and its leaderboard cost one write per socket. Its one-personal-message case is the
inner loop of a 10,000-socket reveal and is kept lean on purpose (names bound outside it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gameserver.connection import Connection
from gameserver.wsprotocol import frame_bytes, frame_header, frame_of
from transports.codecs import Codec, Prepared, Splice

__all__ = ["Broadcast", "personal_fields", "player_wires"]


def personal_fields(you: Mapping[str, Any], player_id: str) -> dict[str, Any] | None:
    """The fields spliced onto a broadcast for one player: its own `you`, if the event has one."""
    personal = you.get(player_id)
    return {"you": personal} if personal is not None else None


def player_wires(parts: list[tuple[Broadcast, Mapping[str, Any]]], codec: Codec) -> Callable[[str], bytes]:
    """player id -> the frames of `parts` for that player, concatenated (one write per socket).
    What is the same for everyone is framed once; a player's `you` is spliced onto the shared
    bytes of its message (`Codec.splicer`): the inner loop of a 10,000-socket reveal."""
    personal = [i for i, (_, you) in enumerate(parts) if you]
    shared = [broadcast.wire_for(codec) for broadcast, _ in parts]
    if not personal:
        every = b"".join(shared)
        return lambda _player_id: every
    if len(personal) == 1:  # a reveal or the final results: the 10,000-socket case, kept lean
        index = personal[0]
        before, after = b"".join(shared[:index]), b"".join(shared[index + 1 :])
        plain = before + shared[index] + after
        you = parts[index][1]
        head, encode, tail = parts[index][0].splice(codec, "you")
        fixed = len(head) + len(tail)
        text = not codec.binary
        join = b"".join

        def one(player_id: str) -> bytes:
            value = you.get(player_id)
            if value is None:
                return plain
            encoded = encode(value)  # one allocation for all the frames of this socket:
            return join((before, frame_header(fixed + len(encoded), text=text), head, encoded, tail, after))

        return one
    # Several personal messages (rare): per message, its shared frame or (splice, you).
    makers = [(broadcast.splice(codec, "you"), you) if you else None for broadcast, you in parts]
    text = not codec.binary

    def many(player_id: str) -> bytes:
        frames = []
        for common, maker in zip(shared, makers, strict=True):
            value = maker[1].get(player_id) if maker is not None else None
            frames.append(common if maker is None or value is None else frame_of(maker[0](value), text=text))
        return b"".join(frames)

    return many


class Broadcast:
    """One message for many sockets: encoded and framed at most once per codec; personal
    fields are spliced onto the encoded bytes per recipient."""

    __slots__ = ("_prepared", "_wire", "message")

    def __init__(self, message: Mapping[str, Any]) -> None:
        self.message = message
        self._prepared: dict[str, Prepared] = {}
        self._wire: dict[str, bytes] = {}

    def _prepare(self, codec: Codec) -> Prepared:
        prepared = self._prepared.get(codec.subprotocol)
        if prepared is None:
            prepared = self._prepared[codec.subprotocol] = codec.prepare(self.message)
        return prepared

    def wire_for(self, codec: Codec, extra: Mapping[str, Any] | None = None) -> bytes:
        """The complete WebSocket frame of this message for a socket speaking `codec`."""
        prepared = self._prepare(codec)
        if extra:
            return frame_of(codec.extend_bytes(prepared, extra), text=not codec.binary)
        wire = self._wire.get(codec.subprotocol)
        if wire is None:
            wire = self._wire[codec.subprotocol] = frame_bytes(prepared.frame)
        return wire

    def splice(self, codec: Codec, key: str) -> Splice:
        """This message with `key: value` added per recipient (unframed parts)."""
        return codec.splicer(self._prepare(codec), key)

    def send_to(self, conn: Connection, extra: Mapping[str, Any] | None = None) -> None:
        if conn.raw_ready():
            conn.send_wire(self.wire_for(conn.codec, extra))
            return
        codec = conn.codec
        prepared = self._prepare(codec)
        conn.send_frame(codec.extend(prepared, extra) if extra else prepared.frame)
