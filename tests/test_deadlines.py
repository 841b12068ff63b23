"""The request deadlines' table (`gameserver.deadlines`): a deadline fires once, not before its
time and at most a tick after it; a disarmed or replaced one does not fire; the sweep stops when
nothing is armed; a clock change keeps what was armed. On a `FakeClock` (exact moments, no
sleeping), and once on the real clock (the event loop's timer does sweep)."""

from __future__ import annotations

import asyncio

from gameserver.clock import Clock, FakeClock, SystemClock
from gameserver.deadlines import TICK_S, TIMER_SLACK_S, RequestDeadlines

#: How late the event loop itself may run a timer on a busy shared box (the real-clock test).
LOOP_LATENESS_S = 0.15
#: The latest a deadline may fire after its time: the rest of its tick, and the sweep's slack.
LATEST_S = TICK_S + TIMER_SLACK_S


class Conn:
    """A connection that notes, on `clock`, how long after its arming it was dropped."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.armed_at = clock.monotonic()
        self.fired: list[float] = []

    def request_overdue(self) -> None:
        self.fired.append(self.clock.monotonic() - self.armed_at)


async def test_a_deadline_fires_once_between_its_time_and_a_tick_after() -> None:
    clock = FakeClock(monotonic_s=1_000.1)  # not on a tick's start
    loop = asyncio.get_running_loop()
    table = RequestDeadlines(clock)
    conns = [Conn(clock) for _ in range(3)]
    for conn, within_s in zip(conns, (0.3, 0.6, 0.6), strict=True):
        table.arm(conn, within_s, loop)
    await clock.advance(0.299)
    assert [c.fired for c in conns] == [[], [], []]  # never early
    await clock.advance(0.6 + LATEST_S - 0.299)
    assert len(conns[0].fired) == len(conns[1].fired) == len(conns[2].fired) == 1
    assert 0.3 <= conns[0].fired[0] <= 0.3 + LATEST_S, conns[0].fired
    for conn in conns[1:]:
        assert 0.6 <= conn.fired[0] <= 0.6 + LATEST_S, conn.fired
    assert len(table) == 0 and table._timer is None and clock.pending == 0  # no sweep left running
    await clock.advance(10)
    assert [len(c.fired) for c in conns] == [1, 1, 1]  # once


async def test_a_disarmed_deadline_does_not_fire_and_a_rearmed_one_moves() -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    table = RequestDeadlines(clock)
    done, moved, kept = Conn(clock), Conn(clock), Conn(clock)
    for conn in (done, moved, kept):
        table.arm(conn, 0.3, loop)
    table.disarm(done)
    table.disarm(done)  # twice is harmless
    table.arm(moved, 1.0, loop)  # the headers came: now the body's deadline
    await clock.advance(0.3 + LATEST_S)
    assert done.fired == [] and moved.fired == [] and len(kept.fired) == 1
    assert len(table) == 1
    await clock.advance(0.99 - (0.3 + LATEST_S))
    assert moved.fired == []
    await clock.advance(LATEST_S + 0.01)
    assert len(moved.fired) == 1 and 1.0 <= moved.fired[0] <= 1.0 + LATEST_S, moved.fired
    assert done.fired == [] and len(kept.fired) == 1


async def test_a_failing_connection_does_not_keep_the_others_from_being_dropped() -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    table = RequestDeadlines(clock)

    class Broken(Conn):
        def request_overdue(self) -> None:
            raise RuntimeError("transport already gone")

    broken, fine = Broken(clock), Conn(clock)
    table.arm(broken, 0.1, loop)
    table.arm(fine, 0.1, loop)
    await clock.advance(0.1 + LATEST_S)
    assert len(fine.fired) == 1 and len(table) == 0


async def test_a_new_clock_keeps_the_time_each_deadline_had_left() -> None:
    real = SystemClock()
    loop = asyncio.get_running_loop()
    table = RequestDeadlines(real)
    conn = Conn(real)
    table.arm(conn, 5.0, loop)
    fake = FakeClock()
    table.use_clock(fake)  # the app starts on its clock (tests: a FakeClock)
    conn.clock, conn.armed_at = fake, fake.monotonic()
    await asyncio.sleep(LATEST_S + 0.05)  # the real clock's sweep timer was called off
    await fake.advance(4.99)
    assert conn.fired == [] and len(table) == 1  # never early: what was left is rounded up to its tick
    await fake.advance(0.01 + 2 * LATEST_S)
    assert len(conn.fired) == 1 and 5.0 <= conn.fired[0] <= 5.0 + 2 * LATEST_S, conn.fired


def test_a_new_event_loop_starts_a_fresh_table_and_the_real_clock_sweeps() -> None:
    table = RequestDeadlines()  # the system's clock: the running loop's timer sweeps
    first = asyncio.new_event_loop()

    async def arm_long() -> None:
        table.arm(Conn(SystemClock()), 5.0, asyncio.get_running_loop())

    try:
        first.run_until_complete(arm_long())
    finally:
        first.close()  # its connections are gone with it

    async def on_the_next_loop() -> list[float]:
        loop = asyncio.get_running_loop()
        conn = Conn(SystemClock())
        table.arm(conn, 0.1, loop)
        assert len(table) == 1
        await asyncio.sleep(0.1 + LATEST_S + LOOP_LATENESS_S)
        return conn.fired

    fired = asyncio.run(on_the_next_loop())
    assert len(fired) == 1 and 0.1 <= fired[0] <= 0.1 + LATEST_S + LOOP_LATENESS_S, fired
