"""The request deadlines' table (`gameserver.deadlines`): a deadline fires once, not before its
time and at most a tick after it; a disarmed or replaced one does not fire; the sweep stops when
nothing is armed."""

from __future__ import annotations

import asyncio

from gameserver.deadlines import TICK_S, RequestDeadlines

#: How late the event loop itself may run a timer on a busy shared box.
LOOP_LATENESS_S = 0.15


class Conn:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.armed_at = loop.time()
        self.fired: list[float] = []

    def request_overdue(self) -> None:
        self.fired.append(self.loop.time() - self.armed_at)


async def test_a_deadline_fires_once_between_its_time_and_a_tick_after() -> None:
    loop = asyncio.get_running_loop()
    table = RequestDeadlines()
    conns = [Conn(loop) for _ in range(3)]
    for conn, within_s in zip(conns, (0.3, 0.6, 0.6), strict=True):
        table.arm(conn, within_s, loop)
    await asyncio.sleep(0.6 + TICK_S + LOOP_LATENESS_S)
    assert len(conns[0].fired) == len(conns[1].fired) == len(conns[2].fired) == 1
    assert 0.3 <= conns[0].fired[0] <= 0.3 + TICK_S + LOOP_LATENESS_S, conns[0].fired
    for conn in conns[1:]:
        assert 0.6 <= conn.fired[0] <= 0.6 + TICK_S + LOOP_LATENESS_S, conn.fired
    assert len(table) == 0 and table._timer is None  # nothing armed: no sweep left running


async def test_a_disarmed_deadline_does_not_fire_and_a_rearmed_one_moves() -> None:
    loop = asyncio.get_running_loop()
    table = RequestDeadlines()
    done, moved, kept = Conn(loop), Conn(loop), Conn(loop)
    for conn in (done, moved, kept):
        table.arm(conn, 0.3, loop)
    table.disarm(done)
    table.disarm(done)  # twice is harmless
    table.arm(moved, 1.0, loop)  # the headers came: now the body's deadline
    await asyncio.sleep(0.3 + TICK_S + LOOP_LATENESS_S)
    assert done.fired == [] and moved.fired == [] and len(kept.fired) == 1
    assert len(table) == 1
    await asyncio.sleep(1.0 - (loop.time() - moved.armed_at) + TICK_S + LOOP_LATENESS_S)
    assert len(moved.fired) == 1 and 1.0 <= moved.fired[0] <= 1.0 + TICK_S + LOOP_LATENESS_S, moved.fired
    assert done.fired == [] and len(kept.fired) == 1


async def test_a_failing_connection_does_not_keep_the_others_from_being_dropped() -> None:
    loop = asyncio.get_running_loop()
    table = RequestDeadlines()

    class Broken(Conn):
        def request_overdue(self) -> None:
            raise RuntimeError("transport already gone")

    broken, fine = Broken(loop), Conn(loop)
    table.arm(broken, 0.1, loop)
    table.arm(fine, 0.1, loop)
    await asyncio.sleep(0.1 + TICK_S + LOOP_LATENESS_S)
    assert len(fine.fired) == 1 and len(table) == 0


def test_a_new_event_loop_starts_a_fresh_table() -> None:
    table = RequestDeadlines()
    first = asyncio.new_event_loop()
    try:
        table.arm(Conn(first), 5.0, first)
    finally:
        first.close()  # its connections are gone with it

    async def on_the_next_loop() -> list[float]:
        loop = asyncio.get_running_loop()
        conn = Conn(loop)
        table.arm(conn, 0.1, loop)
        assert len(table) == 1
        await asyncio.sleep(0.1 + TICK_S + LOOP_LATENESS_S)
        return conn.fired

    assert len(asyncio.run(on_the_next_loop())) == 1
