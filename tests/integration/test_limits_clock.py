"""The rate limits read the process clock: a socket's token bucket refills, an address's
look-up block ends and the platform's per-minute window moves on when a `FakeClock` is
advanced, without waiting for real time (the counters are in a real Redis, as always)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gameserver.clock import FakeClock
from gameserver.iplimits import IpLimits, IpRateLimited
from gameserver.platform.ratelimit import Limit
from gameserver.platform.ratelimit import RateLimiter as PlatformLimiter
from gameserver.ratelimit import RateLimiter
from gameserver.settings import Settings


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_sockets_bucket_refills_on_the_clock() -> None:
    clock = FakeClock()
    bucket = RateLimiter(per_s=2.0, burst=2, strikes=3, monotonic=clock.monotonic)
    assert [bucket.allow(), bucket.allow(), bucket.allow()] == [True, True, False]
    await clock.advance(0.499)  # just short of one token
    assert bucket.allow() is False
    await clock.advance(0.001)
    assert bucket.allow() is True and not bucket.abusive


async def test_an_address_over_its_lookup_budget_is_blocked_until_its_window_ends(redis: Redis) -> None:
    # Mid-window on the wall clock: the block lasts until the window's end, 30 s from here.
    clock = FakeClock(wall_ms=(1_800_000_000_000 // 60_000) * 60_000 + 30_000)
    limits = IpLimits(redis, Settings(ip_lookup_miss_limit=1, ip_lookup_miss_window_s=60.0), clock)
    ip = f"192.0.2.{secrets.randbelow(250) + 1}-{secrets.token_hex(3)}"
    await limits.missed(ip)
    with pytest.raises(IpRateLimited) as over:
        await limits.missed(ip)
    assert over.value.retry_after_s == 30
    await clock.advance(29.9)
    with pytest.raises(IpRateLimited):  # refused without asking Redis, hit or miss
        limits.check_lookup(ip)
    await clock.advance(0.1)
    limits.check_lookup(ip)  # the block is over
    await limits.missed(ip)  # and the next window counts afresh


async def test_the_platforms_window_moves_on_with_the_clock(redis: Redis) -> None:
    clock = FakeClock(wall_ms=(1_800_000_000_000 // 60_000) * 60_000)  # a window's start
    limiter = PlatformLimiter(redis, clock=clock)
    limit, who = Limit("clock", 2), secrets.token_hex(4)
    assert [await limiter.hit(limit, who), await limiter.hit(limit, who)] == [None, None]
    assert await limiter.hit(limit, who) == 60
    await clock.advance(60.0)  # the next window: the last minute's two still count in full
    assert await limiter.hit(limit, who) == 30  # until half of them have slid out
    await clock.advance(29.999)
    assert await limiter.hit(limit, who) == 1
    await clock.advance(0.001)
    assert await limiter.hit(limit, who) is None
