"""Time that runs faster than the machine's, for tests of per-minute limits.

`ScaledClock(speed=10)` is a `gameserver.clock.Clock` (give it to `create_app`) and the clock
of a `FakeTelegram` (its `clock=`): on it a minute passes in 6 real seconds, linearly, from the
moment it was made. Everything that reads it — the game's deadlines and timers, the fake Bot
API's rate-limit windows, poll closes and round trips — keeps Telegram's numbers (20 per 60 s,
a 10 s question, a 5 s shortest poll) and a test of them runs `speed` times faster. A window of
`w` seconds on it is exactly `w / speed` real seconds, so a component that counts in real
seconds (the bridge's budget, on `time.monotonic`) is given `w / speed` and agrees with it to
the nanosecond.

What the real machine takes (a request's round trip, a busy core) takes `speed` times longer
on this clock: a test on it checks the same limits, with `speed` times less slack for the
machine's own delays.

`SystemTime` is the unscaled one: the machine's clocks themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from gameserver.clock import SystemClock, Timer


class SystemTime(SystemClock):
    """The machine's clocks and the running loop's timers (what `FakeTelegram` reads by default):
    the server's `SystemClock`, with a `speed` and the wall clock in seconds, as `ScaledClock`."""

    speed = 1.0
    time = staticmethod(time.time)


class ScaledClock:
    """`speed` seconds of this clock pass in each real second (see the module's docstring)."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real_start = time.monotonic()
        self._wall_start_ns = time.time_ns()  # it starts at the real wall time, then runs ahead

    def _elapsed_s(self) -> float:
        return (time.monotonic() - self._real_start) * self.speed

    def monotonic(self) -> float:
        return self._real_start + self._elapsed_s()

    def wall_ns(self) -> int:
        return self._wall_start_ns + round(self._elapsed_s() * 1_000_000_000)

    def time(self) -> float:
        return self.wall_ns() / 1_000_000_000

    def now_ms(self) -> int:
        return self.wall_ns() // 1_000_000

    def real_s(self, delay_s: float) -> float:
        """How many real seconds `delay_s` of this clock take."""
        return delay_s / self.speed

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(self.real_s(delay_s), callback)

    def sleep(self, delay_s: float) -> Awaitable[None]:
        return asyncio.sleep(self.real_s(delay_s))
