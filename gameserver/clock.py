"""The one clock of a server process: what every stamp, limit, cache and timer reads.

Theory of operation. Three kinds of time are used, and a `Clock` gives each:

- **wall time** (`wall_ns`, `now_ms`): stamps that leave the process — an answer's receive
  time, a question's deadline, `server_time`, due-set scores. Another server process compares
  them with its own (the answer script checks a stamp taken on one process against a deadline
  set on another), so the real clock stays the system's wall clock, as every process of a
  deployment already shares it (NTP).
- **monotonic time** (`monotonic`): local intervals that must not jump with the wall clock —
  a socket's token bucket, an address's block, the "game exists" cache, a request's header
  and body deadlines (`deadlines`), the OIDC discovery cache, the "server full" log's rate.
- **timers** (`call_later`, `sleep`, `wait_within`): a question's close at its deadline, the
  end of a player's reconnect grace, the request deadlines' sweep, a socket's first-message
  timeout, and the rounds of the background loops (deadline sweep, results archiver, attempt
  sweeper, the hub's games watch).

`SystemClock` is the real one. Its `wall_ns` and `monotonic` *are* `time.time_ns` and
`time.monotonic` (static class attributes, not wrappers), so a hot path that binds them once
(`stamp = clock.wall_ns`) pays exactly what a direct call paid: the per-message stamp of the
socket fast path (`wsprotocol`) gains no Python call layer.

`FakeClock` is the tests' one: time stands still until the test calls `advance()`, which
moves wall and monotonic time together and fires the timers and sleepers falling due on the
way, earliest first, each at its own moment, letting the event loop run after each. A test of
the game service against a real Redis then passes a 20 s question's deadline in
milliseconds; what Redis itself times (key TTLs) stays real. Work a firing wakes that waits on
real I/O (a Redis round trip) goes on after `advance` returns, and reads the clock as it is
then: a test that checks a stamp advances to exactly the moment it expects, and waits for the
work itself.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

__all__ = ["Clock", "FakeClock", "SystemClock", "Timer", "wait_within"]

T = TypeVar("T")


class Timer(Protocol):
    """A scheduled callback that can still be called off (`asyncio.TimerHandle` is one)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def wall_ns(self) -> int:
        """Wall-clock nanoseconds since the epoch (comparable across processes)."""
        ...

    def now_ms(self) -> int:
        """Wall-clock milliseconds since the epoch: `wall_ns() // 1_000_000`."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (local intervals only)."""
        ...

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` (on the running event loop) once `delay_s` seconds have passed."""
        ...

    def sleep(self, delay_s: float) -> Awaitable[None]:
        """Wait `delay_s` seconds of this clock's time."""
        ...


class SystemClock:
    """The real clock: the system's wall clock, its monotonic clock, the event loop's timers."""

    # The functions themselves, not wrappers (a builtin is not bound to the instance): binding
    # `clock.wall_ns` once costs a hot path nothing over calling `time.time_ns` directly.
    wall_ns = staticmethod(time.time_ns)
    monotonic = staticmethod(time.monotonic)

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(delay_s, callback)

    def sleep(self, delay_s: float) -> Awaitable[None]:
        return asyncio.sleep(delay_s)


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: int, callback: Callable[[], object]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


#: Loop turns `FakeClock` lets pass after firing a timer: enough for the tasks it woke to run
#: up to their next real wait (a Redis round trip, which the test then awaits itself).
SETTLE_TURNS = 20
#: Where a `FakeClock`'s wall time starts by default (2023-11-14, ms since the epoch).
FAKE_EPOCH_MS = 1_700_000_000_000


class FakeClock:
    """A clock that moves only when told (`advance`). Wall and monotonic time move together,
    kept as whole nanoseconds so that `advance(0.3)` moves `now_ms()` by exactly 300."""

    def __init__(self, wall_ms: int = FAKE_EPOCH_MS, monotonic_s: float = 1_000.0) -> None:
        self._ns = round(monotonic_s * 1_000_000_000)
        self._wall_offset_ns = wall_ms * 1_000_000 - self._ns
        self._timers: list[tuple[int, int, _FakeTimer]] = []
        self._order = itertools.count()  # timers due at the same moment fire in the order set

    def wall_ns(self) -> int:
        return self._ns + self._wall_offset_ns

    def now_ms(self) -> int:
        return (self._ns + self._wall_offset_ns) // 1_000_000

    def monotonic(self) -> float:
        return self._ns / 1_000_000_000

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> Timer:
        timer = _FakeTimer(self._ns + max(0, round(delay_s * 1_000_000_000)), callback)
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))
        return timer

    async def sleep(self, delay_s: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        timer = self.call_later(delay_s, functools.partial(_wake, woken))
        try:
            await woken
        finally:
            timer.cancel()

    @property
    def pending(self) -> int:
        """Timers and sleepers still waiting (cancelled ones not counted)."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing what falls due on the way in order, each at
        its own moment; the loop runs first (tasks just started reach their sleep) and after
        each firing (the tasks it woke run on)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        target = self._ns + round(seconds * 1_000_000_000)
        await _settle()
        while self._timers and self._timers[0][0] <= target:
            due, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._ns = max(self._ns, due)
            timer.callback()
            await _settle()
        self._ns = target
        await _settle()


async def wait_within(clock: Clock, delay_s: float, awaitable: Awaitable[T]) -> T:
    """`awaitable`'s result, or `TimeoutError` once `delay_s` of `clock`'s time has passed
    (`asyncio.wait_for` on `clock`): a timer of the clock expires an `asyncio.timeout`, which
    cancels the wait and turns the cancellation into `TimeoutError` as `wait_for` does."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as expiry:
        timer = clock.call_later(delay_s, lambda: expiry.reschedule(loop.time()))
        try:
            return await awaitable
        finally:
            timer.cancel()


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():  # a sleeper cancelled meanwhile is not woken
        sleeper.set_result(None)


async def _settle() -> None:
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)
