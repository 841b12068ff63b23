"""The hub's lobby updates on the process clock: joins, kicks and lock changes within one
lobby interval reach the hosts as one `lobby` message when the interval ends, the players as
one count; on a `FakeClock`, with nothing real to wait for."""

from __future__ import annotations

from typing import Any

import orjson

from gameserver.clock import FakeClock
from gameserver.connection import Connection
from gameserver.envelopes import LockSet, PlayerKicked, PlayersJoined
from gameserver.hub import Hub, Room
from gameserver.wsprotocol import RawWriter
from tests.test_hub_delivery import OpenProtocol, RecordingTransport
from transports.codecs import CODECS, JSON_SUBPROTOCOL

LOBBY_INTERVAL_MS = 100


def _socket(room: Room, role: str, writes: list[int]) -> RecordingTransport:
    transport = RecordingTransport(writes, len(writes))
    conn = Connection(
        None, CODECS[JSON_SUBPROTOCOL], room.pin, role, max_queue=10,  # type: ignore[arg-type]
        raw=RawWriter(OpenProtocol(transport)),  # type: ignore[arg-type]
    )
    if role == "host":
        room.hosts.add(conn)
    else:
        conn.player_id = "p0"
        room.players["p0"] = {conn}
    return transport


def _messages(transport: RecordingTransport) -> list[dict[str, Any]]:
    return [orjson.loads(frame[2:] if frame[1] < 126 else frame[4:]) for frame in transport.frames]


async def test_a_lobby_interval_of_joins_a_kick_and_a_lock_reaches_the_host_as_one_message() -> None:
    clock = FakeClock()
    hub = Hub(None, None, lobby_interval_ms=LOBBY_INTERVAL_MS, now_ms=clock.now_ms, clock=clock)  # type: ignore[arg-type]
    room = Room("123456")
    writes: list[int] = []
    host, player = _socket(room, "host", writes), _socket(room, "player", writes)
    await hub.dispatch(room, PlayersJoined((("a", "Ada"), ("b", "Bob")), 2))
    await hub.dispatch(room, PlayerKicked("b", 1))
    await hub.dispatch(room, PlayersJoined((("c", "Cy"),), 2))
    await clock.advance(LOBBY_INTERVAL_MS / 1000 - 0.001)
    assert host.frames == [] and player.frames == []  # nothing before the interval ends
    await hub.dispatch(room, LockSet(True, None))
    await clock.advance(0.001)
    assert _messages(host) == [{
        "type": "lobby", "count": 2, "locked": True, "left": ["b"],
        "joined": [{"player_id": "a", "name": "Ada"}, {"player_id": "b", "name": "Bob"},
                   {"player_id": "c", "name": "Cy"}],
    }]
    assert _messages(player) == [{"type": "lobby", "count": 2}]
    await hub.dispatch(room, PlayersJoined((("d", "Dee"),), 3))  # the next interval starts afresh
    await clock.advance(LOBBY_INTERVAL_MS / 1000)
    assert _messages(host)[1] | {"locked": None} == {
        "type": "lobby", "count": 3, "locked": None, "left": [], "joined": [{"player_id": "d", "name": "Dee"}],
    }
    assert clock.pending == 0
