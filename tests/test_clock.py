"""The process clock (`gameserver.clock`): the real one costs a hot path nothing, the fake one
moves only when told and fires what falls due in order, each at its own moment."""

from __future__ import annotations

import asyncio
import time

import pytest

from gameserver.clock import Clock, FakeClock, SystemClock, wait_within


def test_the_system_clock_hands_out_the_time_functions_themselves() -> None:
    clock: Clock = SystemClock()
    # What `wsprotocol` binds for every message's stamp: no wrapper between it and the OS.
    assert clock.wall_ns is time.time_ns
    assert clock.monotonic is time.monotonic
    assert abs(clock.now_ms() - time.time_ns() // 1_000_000) < 1_000


async def test_the_system_clock_sleeps_and_schedules_on_the_event_loop() -> None:
    clock = SystemClock()
    fired: list[str] = []
    clock.call_later(0.01, lambda: fired.append("timer"))
    cancelled = clock.call_later(0.01, lambda: fired.append("cancelled"))
    cancelled.cancel()
    await clock.sleep(0.05)
    assert fired == ["timer"]


async def test_the_fake_clock_stands_still_until_advanced() -> None:
    clock = FakeClock(wall_ms=1_000_000, monotonic_s=50.0)
    assert (clock.now_ms(), clock.wall_ns(), clock.monotonic()) == (1_000_000, 1_000_000_000_000, 50.0)
    await asyncio.sleep(0.02)
    assert clock.now_ms() == 1_000_000
    await clock.advance(0.3)  # whole nanoseconds: exactly 300 ms, not 299.99…
    assert (clock.now_ms(), clock.monotonic()) == (1_000_300, 50.3)
    with pytest.raises(ValueError):
        await clock.advance(-1)


async def test_the_fake_clock_wakes_sleepers_and_timers_in_order_each_at_its_moment() -> None:
    clock = FakeClock(wall_ms=0)
    woken: list[tuple[str, int]] = []

    async def sleeper(name: str, delay_s: float) -> None:
        await clock.sleep(delay_s)
        woken.append((name, clock.now_ms()))

    tasks = [asyncio.create_task(sleeper("late", 20)), asyncio.create_task(sleeper("early", 5))]
    clock.call_later(10, lambda: woken.append(("timer", clock.now_ms())))
    clock.call_later(10, lambda: woken.append(("timer set second", clock.now_ms())))
    gone = clock.call_later(7, lambda: woken.append(("cancelled", clock.now_ms())))
    gone.cancel()
    await clock.advance(19.999)
    assert woken == [("early", 5_000), ("timer", 10_000), ("timer set second", 10_000)]
    assert clock.pending == 1
    await clock.advance(0.001)
    assert woken[-1] == ("late", 20_000) and clock.pending == 0
    await asyncio.gather(*tasks)


async def test_a_cancelled_sleeper_leaves_nothing_to_wake() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    assert clock.pending == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending == 0
    await clock.advance(10)  # nothing fires into the cancelled task


async def test_wait_within_times_out_on_its_clock_only() -> None:
    clock = FakeClock()
    arrived: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(wait_within(clock, 10.0, arrived))
    await asyncio.sleep(0.05)  # real time passes: the fake clock's 10 s do not
    await clock.advance(9.999)
    assert not waiting.done()
    await clock.advance(0.001)
    with pytest.raises(TimeoutError):
        await waiting
    assert arrived.cancelled() and clock.pending == 0


async def test_wait_within_gives_what_came_in_time_and_leaves_no_timer() -> None:
    clock = FakeClock()
    arrived: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(wait_within(clock, 10.0, arrived))
    await clock.advance(5)
    arrived.set_result("join")
    assert await waiting == "join" and clock.pending == 0
    await clock.advance(10)  # the called-off timer does not expire anything later
    assert await wait_within(SystemClock(), 1.0, asyncio.sleep(0, "real")) == "real"
    with pytest.raises(TimeoutError):
        await wait_within(SystemClock(), 0.01, asyncio.sleep(5))
