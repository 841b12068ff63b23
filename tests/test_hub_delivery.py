"""The hub's fan-out on the raw write path: every socket gets its frame (personal fields
spliced in), and the event loop runs between slices of a big broadcast, so answers arriving
meanwhile are read, stamped and acknowledged instead of waiting for the last socket."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import orjson

from gameserver import hub as hub_module
from gameserver.connection import Connection
from gameserver.envelopes import Message
from gameserver.hub import Hub, Room
from gameserver.wsprotocol import RawWriter
from transports.codecs import CODECS, JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL


class RecordingTransport:
    def __init__(self, log: list[int], index: int) -> None:
        self.frames: list[bytes] = []
        self._log = log
        self._index = index

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.frames.append(data)
        self._log.append(self._index)

    def get_write_buffer_size(self) -> int:
        return 0


class OpenProtocol:
    """What `RawWriter` reads of uvicorn's protocol: an open socket with no extension."""

    def __init__(self, transport: RecordingTransport) -> None:
        self.transport = transport
        self.disconnected = False
        self.close_sent = False
        self.handshake_complete = True
        self.conn = type("WsConn", (), {"extensions": []})()


def _room(players: int, writes: list[int]) -> tuple[Room, list[RecordingTransport]]:
    room = Room("123456")
    transports = []
    for i in range(players):
        transport = RecordingTransport(writes, i)
        conn = Connection(
            None, CODECS[JSON_SUBPROTOCOL], room.pin, "player", max_queue=10,  # type: ignore[arg-type]
            raw=RawWriter(OpenProtocol(transport)),  # type: ignore[arg-type]
        )
        conn.player_id = f"p{i}"
        room.players[conn.player_id] = {conn}
        transports.append(transport)
    return room, transports


def _hub() -> Hub:
    return Hub(None, None, lobby_interval_ms=100, now_ms=lambda: 0)  # type: ignore[arg-type]


def _payload(frame: bytes) -> Any:
    # A server frame under 126 bytes has a 2-byte header; longer ones here a 4-byte header.
    return orjson.loads(frame[2:] if frame[1] < 126 else frame[4:])


def test_every_player_gets_the_shared_message_with_its_own_you_spliced_in() -> None:
    writes: list[int] = []
    room, transports = _room(5, writes)
    reveal = {"type": "reveal", "question": 0, "correct": 1, "distribution": [0, 5]}
    you = {f"p{i}": {"points": 100 * i} for i in range(5)}
    board = {"type": "leaderboard", "question": 0, "top": []}
    asyncio.run(_hub()._deliver(room, [Message(reveal, you=you), Message(board)]))
    for i, transport in enumerate(transports):
        assert len(transport.frames) == 1  # the reveal and its leaderboard in one write
        wire = transport.frames[0]
        first_length = wire[1]
        assert _payload(wire[: 2 + first_length]) == reveal | {"you": {"points": 100 * i}}
        assert _payload(wire[2 + first_length :]) == board


def _loop_turns_during(hub: Hub, room: Room, writes: list[int], message: dict[str, Any]) -> list[int]:
    """How many sockets had been written each time another task ran: once just before the
    delivery, then each time it let the loop run."""
    seen_at: list[int] = []

    async def run() -> None:
        done = False

        async def meanwhile() -> None:
            while not done:
                seen_at.append(len(writes))
                await asyncio.sleep(0)

        other = asyncio.create_task(meanwhile())
        await asyncio.sleep(0)  # `meanwhile` runs once before the broadcast begins
        await hub._deliver(room, [Message(message)])
        done = True
        await other

    asyncio.run(run())
    return sorted(set(seen_at))


def _big_room(pin: str = "123456") -> tuple[Room, list[int]]:
    writes: list[int] = []
    room, _ = _room(hub_module.SLICE * 3 + 7, writes)
    room.pin = pin
    return room, writes


def test_the_loop_runs_between_slices_of_a_big_question() -> None:
    room, writes = _big_room()
    turns = _loop_turns_during(_hub(), room, writes, {"type": "question", "question": 0})
    assert turns == [0, hub_module.SLICE, 2 * hub_module.SLICE, 3 * hub_module.SLICE]
    assert sorted(writes) == list(range(len(room.players)))
    assert room.taking_answers


def test_final_results_go_out_in_one_pass_when_no_question_is_open_here() -> None:
    # The players' closes after their results must not hold up everyone else's results.
    hub = _hub()
    room, writes = _big_room()
    hub.rooms[room.pin] = room
    _loop_turns_during(hub, room, writes, {"type": "question", "question": 0})  # opens it
    players = len(room.players)
    reveal = {"type": "reveal", "question": 0, "correct": 1, "distribution": [0, 0]}
    assert _loop_turns_during(hub, room, writes, reveal) == [players]  # the loop ran only before it
    assert not room.taking_answers
    assert _loop_turns_during(hub, room, writes, {"type": "finished", "podium": []}) == [2 * players]
    assert len(writes) == 3 * players


def test_big_deliveries_still_pause_while_another_game_here_takes_answers() -> None:
    hub = _hub()
    (room, writes), (other, other_writes) = _big_room("123456"), _big_room("654321")
    hub.rooms.update({room.pin: room, other.pin: other})
    _loop_turns_during(hub, other, other_writes, {"type": "question", "question": 0})
    turns = _loop_turns_during(hub, room, writes, {"type": "finished", "podium": []})
    assert turns == [0, hub_module.SLICE, 2 * hub_module.SLICE, 3 * hub_module.SLICE]


def _frames(wire: bytes) -> list[bytes]:
    """Split concatenated server frames (payloads under 64 KiB)."""
    frames = []
    while wire:
        length, start = (wire[1], 2) if wire[1] < 126 else (int.from_bytes(wire[2:4], "big"), 4)
        frames.append(wire[: start + length])
        wire = wire[start + length :]
    return frames


def test_each_codec_gets_its_own_frames_and_players_without_you_the_shared_one() -> None:
    writes: list[int] = []
    room, transports = _room(4, writes)
    packed = next(iter(room.players["p3"]))
    packed.codec = CODECS[MSGPACK_SUBPROTOCOL]
    finished = {"type": "finished", "podium": [{"rank": 1, "name": "Ann", "score": 900, "answers": 3}]}
    reveal = {"type": "reveal", "question": 2, "correct": 0, "distribution": [3, 1]}
    yous_reveal = {"p0": {"points": 10}, "p1": {"points": 11}, "p3": {"points": 13}}  # p2 has none
    yous_final = {"p0": {"rank": 2}, "p2": {"rank": 3}, "p3": {"rank": 1}}  # p1 has none
    items = [Message(reveal, you=yous_reveal), Message(finished, you=yous_final)]
    asyncio.run(_hub()._deliver(room, items))
    for i, transport in enumerate(transports):
        assert len(transport.frames) == 1  # both messages in one write
        first, second = _frames(transport.frames[0])
        decode = (lambda f: msgpack.unpackb(f[2 if f[1] < 126 else 4 :])) if i == 3 else _payload
        assert first[0] == (0x82 if i == 3 else 0x81)  # binary frames for MessagePack, text for JSON
        expect_reveal = reveal | ({"you": yous_reveal[f"p{i}"]} if f"p{i}" in yous_reveal else {})
        expect_final = finished | ({"you": yous_final[f"p{i}"]} if f"p{i}" in yous_final else {})
        assert decode(first) == expect_reveal and decode(second) == expect_final
