"""The background loops run on the process clock: on a `FakeClock`, the results archiver's,
the attempt sweeper's and the games watch's round comes when the clock is advanced past the
loop's interval, and not a moment before, however much real time passes. Each round's work is
real (Redis, the database); what a round does is the business of the modules' own tests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gameserver.archiver import ResultsArchiver
from gameserver.clock import FakeClock
from gameserver.gamesync import GameSync
from gameserver.hub import Hub
from gameserver.hub.room import Room
from gameserver.platform.attempt_sweeper import AttemptSweeper
from gameserver.redis_client import close_redis, open_redis
from gameserver.sqlworker import SqlWorker
from gameserver.store import GameStore
from persistence.db import Database
from tests.sql_support import SqlTarget

INTERVAL_S = 30.0
#: Real time given to a round that is not due, to show that it does not come anyway.
QUIET_S = 0.3


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 10.0) -> None:
    """Wait (real time) for `check`: a round's Redis or SQL work goes on after `advance`."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within_s
    while not await check():
        assert loop.time() < give_up, f"{what} did not happen"
        await asyncio.sleep(0.01)


async def stopped(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_archiver_archives_when_its_clock_passes_the_interval(
    private_redis_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    redis = open_redis(private_redis_url, 4)  # a Redis of its own: the archive queue is per Redis
    worker = SqlWorker(f"sqlite+aiosqlite:///{tmp_path / 'results.db'}")
    worker.start()
    archiver = ResultsArchiver(redis, worker, lease_ms=60_000, clock=clock)
    assert archiver.now_ms() == clock.now_ms()  # claims and retries are stamped by the process clock
    pin = f"{secrets.randbelow(10**6):06d}"
    key = archiver.queue.key_for(pin)
    try:
        finished_ms = clock.now_ms()
        await redis.zadd(key, {pin: finished_ms})  # finished, its results lost: dropped by a round
        rounds = asyncio.create_task(archiver.run_forever(INTERVAL_S))
        try:
            await clock.advance(INTERVAL_S - 0.001)
            await asyncio.sleep(QUIET_S)
            assert await redis.zscore(key, pin) == finished_ms  # not claimed: no round yet
            await clock.advance(0.001)

            async def left_the_queue() -> bool:
                return await redis.zscore(key, pin) is None

            await eventually(left_the_queue, "the round at the interval")
        finally:
            await stopped(rounds)
    finally:
        await archiver.stop()
        await asyncio.to_thread(worker.stop)
        await close_redis(redis)


async def test_the_attempt_sweeper_sweeps_when_its_clock_passes_the_interval(
    sql_target: SqlTarget, redis_url: str
) -> None:
    clock = FakeClock()
    db = Database(sql_target.url, schema=sql_target.schema)
    await db.upgrade()
    redis = open_redis(redis_url, 4)
    sweeper = AttemptSweeper(redis, db, interval_s=INTERVAL_S, clock=clock)
    try:
        await redis.delete(sweeper.lease_key)
        rounds = asyncio.create_task(sweeper.run_forever())
        try:
            await clock.advance(INTERVAL_S - 0.001)
            await asyncio.sleep(QUIET_S)
            assert not await redis.exists(sweeper.lease_key)  # no round has taken the lease

            await clock.advance(0.001)

            async def leased() -> bool:  # the round's first step: its lease, one interval long
                return bool(await redis.exists(sweeper.lease_key))

            await eventually(leased, "the round at the interval")
            assert 0 < await redis.pttl(sweeper.lease_key) <= INTERVAL_S * 1000
        finally:
            await stopped(rounds)
    finally:
        await redis.delete(sweeper.lease_key)
        await close_redis(redis)
        await db.dispose()


async def test_the_games_watch_looks_when_its_clock_passes_the_interval(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    redis = open_redis(redis_url, 4)
    store = GameStore(redis, game_ttl_s=60, results_ttl_s=60, clock=clock)
    hub = Hub(redis, store, lobby_interval_ms=100, now_ms=clock.now_ms, watch_interval_s=INTERVAL_S, clock=clock)
    assert isinstance(hub.sync, GameSync) and hub.sync.clock is clock  # the hub's clock, by default
    vanished = f"9{secrets.randbelow(10**8):08d}"  # a room whose game Redis does not have
    hub.rooms[vanished] = Room(vanished)
    gone: list[tuple[str, float]] = []
    announce = hub.game_gone

    def noted(pin: str) -> None:
        gone.append((pin, clock.monotonic()))
        announce(pin)

    monkeypatch.setattr(hub, "game_gone", noted)
    started = clock.monotonic()
    try:
        watching = asyncio.create_task(hub.sync.watch())
        try:
            await clock.advance(INTERVAL_S - 0.001)
            await asyncio.sleep(QUIET_S)
            assert gone == []
            await clock.advance(0.001)

            async def announced() -> bool:
                return bool(gone)

            await eventually(announced, "the look at the interval")
            assert gone == [(vanished, started + INTERVAL_S)]
        finally:
            await stopped(watching)
    finally:
        await close_redis(redis)
