"""Delivery: a game's events to the sockets of its room here.

Theory of operation. Every change of a game publishes one event on its channel; the
subscription hands it to `_on_event`, which finds the room and types the payload once
(`envelopes.from_json`, or the very object this process published, from `publications.py`).
`dispatch` then acts on it: lobby events go to pacing (`pacing.py`); `Messages` go out through
`deliver_new`, which delivers each step of the game once (a catch-up after a lost
subscription may offer a step that already arrived), and `_deliver`.

`_deliver` is the hot path, benchmarked at 10,000 sockets (`benchmarks/bench_fanout.py`):
per codec it builds once what every player's socket gets (`wire.player_wires`) and writes
each socket one concatenation of all the event's frames. Between slices of `SLICE` sockets
it lets the event loop run while any question is open here, so answers are read, stamped
and acknowledged during a big broadcast. Hosts get the host-only fields, sockets not yet
welcomed keep the messages (`Room.hold`), listeners are told, and a question arms the hosts'
answer counter and holds the garbage collector for a big room until its reveal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gameserver import envelopes, metrics
from gameserver.connection import Connection
from gameserver.envelopes import Envelope, Message, Messages, PlayerKicked, PlayersJoined
from gameserver.gamesync import game_step
from gameserver.hub.pacing import LobbyPacing
from gameserver.hub.wire import Broadcast, personal_fields, player_wires
from gameserver.wire_messages import Kicked
from transports.codecs import Codec

if TYPE_CHECKING:
    from gameserver.hub.room import Room

__all__ = ["SLICE", "Delivery"]

log = logging.getLogger(__name__)


#: Sockets written per slice of a broadcast before the event loop may run once. A socket write
#: costs 10-20 µs on a 2-core box, so a 10,000-socket broadcast holds the loop 100-200 ms;
#: an answer that arrives meanwhile needs four or five loop turns (read, session, batched Redis
#: call, reply, ack), each waiting for a slice. At 2,000 sockets (20-40 ms a slice) the answers
#: sent in the first ~150 ms of a 10k question waited 100-250 ms for their acks (ack p99
#: 82-108 ms); at 500 (5-10 ms) ack p99 is 54-67 ms and the fan-out no slower
#: (docs/performance.md). Answers are stamped when read, so smaller slices also time them closer.
SLICE = 500


async def _in_slices(room: Room, pause: bool) -> AsyncIterator[list[tuple[str, set[Connection]]]]:
    """The room's players (a snapshot) in slices, letting the event loop run between them if
    `pause`."""
    players = list(room.players.items())
    for start in range(0, len(players), SLICE):
        if start and pause:
            await asyncio.sleep(0)
        yield players[start : start + SLICE]


#: What a delivered message says of its game's answers: open (True) or closed (False).
_OPENS_ANSWERS = {"question": True, "reveal": False, "finished": False}


class Delivery(LobbyPacing):
    """The hub's part that delivers a game's events to the sockets of its room."""

    gc_hold_players: int

    async def _on_event(self, channel: bytes, data: bytes) -> None:
        """One event of a game's channel (`game:{pin}:events`), from the subscription."""
        pin = channel.split(b"{", 1)[1].split(b"}", 1)[0].decode()
        room = self.rooms.get(pin)
        if room is None:
            return
        try:
            # Typed once per event; this process's own big events come typed from memory.
            await self.dispatch(room, self.store.published.take(data) or envelopes.from_json(data))
        except Exception:
            log.exception("bad event on %s", channel)

    async def dispatch(self, room: Room, event: Envelope) -> None:
        """Act on one event of the room's game."""
        if isinstance(event, Messages):
            await self.deliver_new(room, event.items)
        elif isinstance(event, PlayersJoined):  # one event per batch of joins (JOIN_MANY)
            room.count = event.count
            room.joined.extend({"player_id": player_id, "name": name} for player_id, name in event.players)
            self._schedule_lobby(room)
        elif isinstance(event, PlayerKicked):
            room.count = event.count
            room.left.append(event.player_id)
            waiting = [conn for conn in room.waiting if conn.player_id == event.player_id]
            for conn in [*room.players.get(event.player_id, ()), *waiting]:
                conn.send(Kicked().to_wire())
                conn.close(4403, "kicked")
            self._schedule_lobby(room)
        else:
            room.locked = event.locked
            if event.count is not None:
                room.count = event.count
            self._schedule_lobby(room)

    async def _deliver(self, room: Room, items: Sequence[Message]) -> None:
        """The messages of one event to every socket of the room, personal `you` spliced in.
        Several messages (a reveal and its leaderboard) reach a socket in one write: one system
        call per socket, not one per message."""
        started = time.perf_counter()
        parts = [(Broadcast(item.msg), item.you or {}) for item in items]
        kind = items[0].kind if items else ""
        opens = _OPENS_ANSWERS.get(kind)
        if opens is not None:
            room.taking_answers = opens
        # The loop runs between slices so that answers are read, stamped and acked while a big
        # room's message goes out. With no question open in any room here there are none to
        # wait for: the players' final results then go out in one pass, before the loop takes
        # the 10,000 closes of those who have them (~60 µs each; they delayed the last
        # player's results from ~0.3 to ~1 s). A room of one slice never pauses: the rooms are
        # not walked for each of a thousand small games' messages.
        pause = len(room.players) > SLICE and (
            room.taking_answers or any(other.taking_answers for other in self.rooms.values())
        )
        wires: dict[str, Callable[[str], bytes]] = {}  # per codec: player id -> all its frames
        codec: Codec | None = None  # the codec of the previous socket, and its `wire`
        wire: Callable[[str], bytes] | None = None
        async for players in _in_slices(room, pause):
            for player_id, conns in players:
                for conn in conns:
                    if not conn.raw_ready():
                        for broadcast, you in parts:
                            broadcast.send_to(conn, personal_fields(you, player_id))
                        continue
                    if conn.codec is not codec:  # nearly always the same codec as the socket before
                        codec = conn.codec
                        wire = wires.get(codec.subprotocol)
                        if wire is None:
                            wire = wires[codec.subprotocol] = player_wires(parts, codec)
                    conn.send_wire(wire(player_id))
        for conn in room.hosts:
            for (broadcast, _), item in zip(parts, items, strict=True):
                broadcast.send_to(conn, item.host or None)
        if room.waiting:
            for (broadcast, you), item in zip(parts, items, strict=True):
                host_extra = item.host or None
                room.hold(
                    broadcast.message,
                    lambda conn, you=you, host_extra=host_extra: (
                        host_extra if conn.role == "host" else personal_fields(you, conn.player_id or "")
                    ),
                )
        for broadcast, you in parts:
            self._after_delivery(room, broadcast.message, you)
        if kind:
            metrics.FANOUT_SECONDS.labels(kind).observe(time.perf_counter() - started)

    def _after_delivery(self, room: Room, message: Mapping[str, Any], you: Mapping[str, Any]) -> None:
        for listener in list(room.listeners):
            try:
                listener.deliver(message, you)
            except Exception:
                log.exception("listener failed on game %s", room.pin)
        kind = message.get("type")
        if kind in ("question", "finished"):
            room.started = True
            if room.player_lobby_timer is not None:
                room.player_lobby_timer.cancel()
                room.player_lobby_timer = None
        if kind == "question":
            if room.hosts:
                self._count_answers(room, int(message["question"]))
            if self.gc_hold is not None and len(room.players) >= self.gc_hold_players:
                self.gc_hold.hold(room.pin)
        elif kind in ("reveal", "finished"):
            room.counting = None
            if self.gc_hold is not None:
                self.gc_hold.release(room.pin)

    async def deliver_new(self, room: Room, items: Sequence[Message]) -> None:
        """`_deliver` what the room does not have yet: a step of the game it already had (a
        catch-up racing the event it stood in for) is not delivered again."""
        steps = [game_step(item.msg) for item in items]
        if any(step is not None and step <= room.step for step in steps):
            items = [item for item, step in zip(items, steps, strict=True) if step is None or step > room.step]
            if not items:
                return
        room.step = max([room.step, *(step for step in steps if step is not None)])
        await self._deliver(room, items)
