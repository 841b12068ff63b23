"""The server keeps house by one process a round (a lease in Redis), the first round a minute
after start and then every interval; real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from redis.asyncio import Redis
from sqlmodel import func, select

from gameserver.clock import FakeClock
from gameserver.platform.housekeeping import FIRST_ROUND_S, Housekeeping
from persistence.accounts.models import AuthToken, User
from persistence.db import Database
from persistence.types import utcnow
from tests.sql_support import SqlTarget


async def _ended_token(db: Database, digest: str) -> None:
    async with db.transaction() as session:
        user = User(first_name="Ada")
        session.add(user)
        await session.flush()
        assert user.id is not None
        session.add(AuthToken(digest=digest, user_id=user.id, kind="api", expires_at=utcnow() - timedelta(days=31)))


async def _tokens(db: Database) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(AuthToken))).one()


async def test_one_process_a_round_keeps_house(sql_target: SqlTarget, redis_url: str) -> None:
    db = Database(sql_target.url, schema=sql_target.schema)
    await db.upgrade()
    redis, other = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        first, second = Housekeeping(redis, db, interval_s=3600), Housekeeping(other, db, interval_s=3600)
        await redis.delete(first.lease.key)
        await _ended_token(db, "a" * 64)
        done = await first.run_once()
        assert done is not None and done.tokens == 1
        await _ended_token(db, "b" * 64)
        assert await second.run_once() is None  # the lease is held for the hour: it skips
        assert await _tokens(db) == 1
        assert 3_590_000 < await redis.pttl(first.lease.key) <= 3_600_000
        await redis.delete(first.lease.key)  # the lease lapsed: the next round is anyone's
        done = await second.run_once()
        assert done is not None and done.tokens == 1 and await _tokens(db) == 0
        await redis.delete(first.lease.key)
    finally:
        await redis.aclose()
        await other.aclose()
        await db.dispose()


async def test_the_first_round_comes_a_minute_after_start_then_every_interval(
    sql_target: SqlTarget, redis_url: str
) -> None:
    db = Database(sql_target.url, schema=sql_target.schema)
    await db.upgrade()
    redis = Redis.from_url(redis_url)
    clock = FakeClock(wall_ms=time.time_ns() // 1_000_000)
    keeper = Housekeeping(redis, db, interval_s=600, clock=clock)
    await redis.delete(keeper.lease.key)
    await _ended_token(db, "a" * 64)
    loop = asyncio.create_task(keeper.run_forever())
    try:
        await clock.advance(FIRST_ROUND_S - 0.01)
        await asyncio.sleep(0.2)
        assert await _tokens(db) == 1
        await clock.advance(0.01)
        await _eventually(lambda: _tokens_are(db, 0))
        await _eventually(lambda: _sleeping(clock))  # the round is over: the next one is timed
        await _ended_token(db, "b" * 64)
        await redis.delete(keeper.lease.key)
        await clock.advance(599)
        await asyncio.sleep(0.2)
        assert await _tokens(db) == 1  # not before the interval
        await clock.advance(1)
        await _eventually(lambda: _tokens_are(db, 0))
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await redis.delete(keeper.lease.key)
        await redis.aclose()
        await db.dispose()


async def _sleeping(clock: FakeClock) -> bool:
    return clock.pending == 1


async def _tokens_are(db: Database, count: int) -> bool:
    return await _tokens(db) == count


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "did not happen"
        await asyncio.sleep(0.02)
