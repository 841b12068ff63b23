"""Deadlines of requests still arriving, kept in coarse buckets and checked by one sweep.

Every connection starts with a deadline for its request's headers, and then one for its body
(`connguard`). Almost every deadline is cancelled long before it is due: a handshake's headers
arrive within a millisecond, and a 10,000-player join storm arms and cancels 20,000 of them. An
event-loop timer per deadline (`call_later`, then `cancel`) is a timer-heap entry and a handle
object each time, ~1.7 µs a handshake on uvloop for the two; here a deadline is an entry in a
dict of its *tick* (`TICK_S` slices of the process clock's monotonic time), ~0.8 µs for the
same two.

One timer per process, `_sweep`, runs at the start of every tick while any deadline is armed
(none when nothing is pending) and calls `request_overdue()` on every connection whose tick has passed;
it touches only the buckets that are due, so its work is the overdue connections, not the
pending ones. A deadline fires between its time and `TICK_S` after it: never early.

The table reads the process's `Clock` (`use_clock`, called by the app at its start, as
`wsprotocol.stamp_with` is): its monotonic time, and its `call_later` for the sweep, so a test
on a `FakeClock` drops a connection by advancing the clock past its deadline. The system
clock's monotonic time is read as the event loop keeps it, `loop.time()`: the same clock
(uvloop's copy is taken once a loop turn, without a system call), read as the table read it
before it took a clock, and a little cheaper than a bound `time.monotonic` (~60 CPU
instructions an `arm`, callgrind).
The table belongs to one event loop; a connection of another loop (a test that starts a new
loop with a new server) starts a fresh table, since the old loop's connections are gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from gameserver.clock import Clock, SystemClock, Timer

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

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._read = _reader(self._clock)  # bound once: `arm` runs on every handshake
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due: dict[int, dict[Overdue, None]] = {}  # tick -> connections due then (ordered set)
        self._tick_of: dict[Overdue, int] = {}
        self._swept = 0  # every tick up to this one has been swept
        self._timer: Timer | None = None

    def __len__(self) -> int:
        return len(self._tick_of)

    def use_clock(self, clock: Clock) -> None:
        """Read `clock` from now on (the app's, at its start). Deadlines already armed on the
        running loop keep the time they had left, measured again on the new clock."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # no loop: no connection is open
            running = None
        left: dict[Overdue, float] = {}
        if running is not None and self._loop is running:
            now = self._now()
            left = {conn: tick * TICK_S - now for conn, tick in self._tick_of.items()}
        self._adopt(None)
        self._clock = clock
        self._read = _reader(clock)
        if running is not None:
            for conn, within_s in left.items():
                self.arm(conn, max(0.0, within_s), running)

    def arm(self, conn: Overdue, within_s: float, loop: asyncio.AbstractEventLoop) -> None:
        """`conn` must be done within `within_s` of now (replacing its deadline, if any).
        Called on `loop`, running (the sweep is a timer of the clock on that loop)."""
        if loop is not self._loop:
            self._adopt(loop)
        tick_of = self._tick_of
        old = tick_of.get(conn)
        if old is not None:
            self._due[old].pop(conn, None)
        read = self._read
        now = loop.time() if read is None else read()
        tick = int((now + within_s) / TICK_S) + 1
        bucket = self._due.get(tick)
        if bucket is None:
            bucket = self._due[tick] = {}
        bucket[conn] = None
        tick_of[conn] = tick
        if self._timer is None:
            self._swept = int(now / TICK_S)  # nothing was armed before now
            self._timer = self._schedule(now, self._swept)

    def disarm(self, conn: Overdue) -> None:
        """`conn` is done (or gone): no deadline (nothing happens when it had none)."""
        tick = self._tick_of.pop(conn, None)
        if tick is not None:
            self._due[tick].pop(conn, None)

    def _adopt(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._loop = loop
        self._due.clear()
        self._tick_of.clear()
        self._timer = None

    def _schedule(self, now: float, tick: int) -> Timer:
        """The sweep, just after the next tick begins (a timer may fire a little early)."""
        return self._clock.call_later((tick + 1) * TICK_S + TIMER_SLACK_S - now, self._sweep)

    def _now(self) -> float:
        """The clock's monotonic time, off the hot path."""
        if self._read is not None:
            return self._read()
        return self._loop.time() if self._loop is not None else self._clock.monotonic()

    def _sweep(self) -> None:
        now = self._now()
        now_tick = int(now / TICK_S)
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
            self._timer = self._schedule(now, now_tick)
        else:
            self._timer = None
            due.clear()  # emptied buckets of disarmed deadlines
        for conn in overdue:
            try:
                conn.request_overdue()
            except Exception:  # one connection's failure must not keep the others open
                log.exception("dropping an overdue connection failed")


def _reader(clock: Clock) -> Callable[[], float] | None:
    """What the table reads `clock`'s monotonic time with: None for the system clock (read as
    the running loop keeps it, `loop.time()`), else the clock's own `monotonic`."""
    return None if isinstance(clock, SystemClock) else clock.monotonic


#: The one table of this process.
REQUEST_DEADLINES = RequestDeadlines()
