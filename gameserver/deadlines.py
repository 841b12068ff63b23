"""Deadlines of requests still arriving, kept in coarse buckets and checked by one sweep.

Every connection starts with a deadline for its request's headers, and then one for its body
(`connguard`). Almost every deadline is cancelled long before it is due: a handshake's headers
arrive within a millisecond, and a 10,000-player join storm arms and cancels 20,000 of them. An
event-loop timer per deadline (`call_later`, then `cancel`) is a timer-heap entry and a handle
object each time, ~1.7 µs a handshake on uvloop for the two; here a deadline is an entry in a
dict of its *tick* (`TICK_S` slices of the loop's clock), ~0.8 µs for the same two.

One timer per process, `_sweep`, runs at the start of every tick while any deadline is armed
(none when nothing is pending) and calls `request_overdue()` on every connection whose tick has passed;
it touches only the buckets that are due, so its work is the overdue connections, not the
pending ones. A deadline fires between its time and `TICK_S` after it: never early.

The table belongs to one event loop; a connection of another loop (a test that starts a new
loop with a new server) starts a fresh table, since the old loop's connections are gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)

#: Granularity of deadlines, seconds: a deadline fires at most this much after its time.
TICK_S = 0.25
#: After the start of a tick, so that a sweep timer firing early still finds its tick begun.
TIMER_SLACK_S = 0.002


class Overdue(Protocol):
    def request_overdue(self) -> None:
        """The deadline passed: drop the connection."""


class RequestDeadlines:
    """Armed deadlines by tick, and the one timer that sweeps them."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due: dict[int, dict[Overdue, None]] = {}  # tick -> connections due then (ordered set)
        self._tick_of: dict[Overdue, int] = {}
        self._swept = 0  # every tick up to this one has been swept
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._tick_of)

    def arm(self, conn: Overdue, within_s: float, loop: asyncio.AbstractEventLoop) -> None:
        """`conn` must be done within `within_s` of now (replacing its deadline, if any)."""
        if loop is not self._loop:
            self._adopt(loop)
        tick_of = self._tick_of
        old = tick_of.get(conn)
        if old is not None:
            self._due[old].pop(conn, None)
        tick = int((loop.time() + within_s) / TICK_S) + 1
        bucket = self._due.get(tick)
        if bucket is None:
            bucket = self._due[tick] = {}
        bucket[conn] = None
        tick_of[conn] = tick
        if self._timer is None:
            self._swept = int(loop.time() / TICK_S)  # nothing was armed before now
            self._timer = self._schedule(loop, self._swept)

    def disarm(self, conn: Overdue) -> None:
        """`conn` is done (or gone): no deadline (nothing happens when it had none)."""
        tick = self._tick_of.pop(conn, None)
        if tick is not None:
            self._due[tick].pop(conn, None)

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._loop = loop
        self._due.clear()
        self._tick_of.clear()
        self._timer = None

    def _schedule(self, loop: asyncio.AbstractEventLoop, tick: int) -> asyncio.TimerHandle:
        """The sweep, just after the next tick begins (a timer may fire a little early)."""
        return loop.call_at((tick + 1) * TICK_S + TIMER_SLACK_S, self._sweep)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now_tick = int(loop.time() / TICK_S)
        due, tick_of = self._due, self._tick_of
        overdue: list[Overdue] = []
        for tick in range(self._swept + 1, now_tick + 1):
            bucket = due.pop(tick, None)
            if bucket:
                overdue.extend(bucket)
        self._swept = max(self._swept, now_tick)
        for conn in overdue:
            del tick_of[conn]
        if tick_of:
            self._timer = self._schedule(loop, now_tick)
        else:
            self._timer = None
            due.clear()  # emptied buckets of disarmed deadlines
        for conn in overdue:
            try:
                conn.request_overdue()
            except Exception:  # one connection's failure must not keep the others open
                log.exception("dropping an overdue connection failed")


#: The one table of this process.
REQUEST_DEADLINES = RequestDeadlines()
