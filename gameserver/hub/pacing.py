"""Pacing: lobby updates and the hosts' answer counter, coalesced per `lobby_interval_ms`.

Theory of operation. Thousands of joins must not become thousands of frames per socket. A
`PlayersJoined`, `PlayerKicked` or `LockSet` event only records what changed in its room and
arms the room's timers (`_schedule_lobby`); when a timer fires, one `lobby` message goes out:
to the hosts (who joined and left since the last one, whether joining is locked) every
`lobby_interval_ms`, and to the players (a count only) at most every
`PLAYER_LOBBY_SPACING_S` × their number, since a count broadcast to 10,000 sockets costs
100-250 ms of the loop. Players get no lobby counts once the game's first question went out.

The hosts' answer counter is polled, not pushed: while a question runs in a room with a host
here, one task (`_poll_answer_counts`) reads the counts of every such room of the process in
one Redis round trip per interval and sends a host only a count that changed.

`LobbyPacing` is the lowest of the hub's parts (`Hub` in `core.py` sets its state): the
delivery part arms and follows it, the membership part stops a dropped room's timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING

from gameserver.clock import Clock
from gameserver.gcwatch import GcHold
from gameserver.hub.wire import Broadcast
from gameserver.store import GameStore
from gameserver.wire_messages import AnswerCount, HostLobby, Lobby

if TYPE_CHECKING:
    from gameserver.hub.room import Room

__all__ = ["PLAYER_LOBBY_SPACING_S", "LobbyPacing"]

log = logging.getLogger(__name__)

#: Seconds between two lobby counts to the players of a room, per player in it.
PLAYER_LOBBY_SPACING_S = 0.0005


class LobbyPacing:
    """The hub's part that paces what would otherwise go out per event: lobby updates and
    the hosts' answer counter."""

    rooms: dict[str, Room]
    store: GameStore
    clock: Clock
    lobby_interval_s: float
    gc_hold: GcHold | None
    _counter: asyncio.Task[None] | None

    def _schedule_lobby(self, room: Room) -> None:
        if room.lobby_timer is None:
            flush = functools.partial(self._flush_host_lobby, room)
            room.lobby_timer = self.clock.call_later(self.lobby_interval_s, flush)
        if room.player_lobby_timer is None and not room.started:
            room.player_lobby_timer = self.clock.call_later(
                self._player_lobby_interval(room), functools.partial(self._flush_player_lobby, room)
            )

    def _player_lobby_interval(self, room: Room) -> float:
        """Players only see a count, so it may lag: a lobby broadcast to n sockets costs about
        n × 10-20 µs, and spacing them n × 0.5 ms apart keeps a join storm's count updates
        at 2,000 writes a second, ~3-4% of a core (10,000 players: every 5 s), instead of
        dominating it (at n × 0.2 ms they were a tenth of a 10k storm's CPU on a slow box)."""
        return max(self.lobby_interval_s, len(room.players) * PLAYER_LOBBY_SPACING_S)

    def _flush_host_lobby(self, room: Room) -> None:
        room.lobby_timer = None
        count = room.count or 0
        host_message = HostLobby(count, tuple(room.joined), tuple(room.left), room.locked).to_wire()
        for conn in room.hosts:
            conn.send(host_message)
        if room.waiting:
            room.hold(host_message, hosts_only=True)
        for listener in list(room.listeners):
            with contextlib.suppress(Exception):
                listener.deliver(Lobby(count).to_wire(), {})
        room.joined, room.left = [], []

    def _flush_player_lobby(self, room: Room) -> None:
        room.player_lobby_timer = None
        broadcast = Broadcast(Lobby(room.count or 0).to_wire())
        for conns in room.players.values():
            for conn in conns:
                broadcast.send_to(conn)

    def follow_answers(self, pin: str, question: int) -> None:
        """A host (re)joined while `question` runs: send it the count (again) from now on; the
        counter may have stopped while the room had no host."""
        room = self.rooms.get(pin)
        if room is not None and room.hosts:
            self._count_answers(room, question)

    def _count_answers(self, room: Room, question: int) -> None:
        room.counting = question
        room.last_count = None
        if self._counter is None or self._counter.done():
            self._counter = asyncio.create_task(self._poll_answer_counts(), name="answer-counts")

    async def _poll_answer_counts(self) -> None:
        """The hosts' answer counters, for every game of this process in one Redis round trip
        per interval (1,000 games with a task each made 3,000 round trips a second)."""
        while True:
            rooms = [room for room in self.rooms.values() if room.counting is not None and room.hosts]
            if not rooms:
                return
            try:
                counts = await self.store.answer_counts_many([(room.pin, room.counting) for room in rooms])
            except Exception:
                log.exception("answer count poll failed")
                counts = [room.last_count for room in rooms]
            for room, count in zip(rooms, counts, strict=True):
                question = room.counting
                if count is None or question is None or count == room.last_count:
                    continue
                room.last_count = count
                answered, players = count
                message = AnswerCount(question, answered, players).to_wire()
                for conn in room.hosts:
                    conn.send(message)
            await self.clock.sleep(self.lobby_interval_s)

    def _stop_timers(self, room: Room) -> None:
        for timer in (room.lobby_timer, room.player_lobby_timer):
            if timer is not None:
                timer.cancel()
        room.lobby_timer = room.player_lobby_timer = None
        room.counting = None
        if self.gc_hold is not None:
            self.gc_hold.release(room.pin)
