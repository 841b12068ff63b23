"""The platform's request limits (PLATFORM.md "Conventions", 000 §3): a sliding window per
minute, held in Redis so that it holds across server processes."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from gameserver.platform.ratelimit import Limit, RateLimiter
from gameserver.redis_client import RedisClient, close_redis, open_redis
from tests.accounts_support import fresh_address
from tests.platform_support import make_account, platform_server
from tests.sql_support import SqlTarget

MINUTE = 60_000


@pytest.fixture
def limiter(engine: RedisClient) -> RateLimiter:
    """On one Redis and on a Redis Cluster (`engine`)."""
    return RateLimiter(engine)


async def test_two_processes_count_against_one_budget(engine_url: str) -> None:
    first, second = open_redis(engine_url, 4), open_redis(engine_url, 4)  # two processes' clients
    try:
        limit, who = Limit("t", 10), secrets.token_hex(4)
        now = 200 * MINUTE + 1_000
        limiters = (RateLimiter(first), RateLimiter(second))
        assert [await limiters[i % 2].hit(limit, who, now + i) for i in range(10)] == [None] * 10
        assert await limiters[0].hit(limit, who, now + 10) == 59
        assert await limiters[1].hit(limit, who, now + 10) == 59
    finally:
        await close_redis(first)
        await close_redis(second)


async def test_a_minute_allows_the_limit_and_then_says_how_long_to_wait(limiter: RateLimiter) -> None:
    limit, who = Limit("t", 30), secrets.token_hex(4)
    start = 100 * MINUTE + 10_000  # 10 s into a window
    assert [await limiter.hit(limit, who, start + i) for i in range(30)] == [None] * 30
    assert await limiter.hit(limit, who, start + 30) == 50  # the rest of this window
    assert await limiter.hit(limit, "someone else", start + 30) is None


async def test_the_previous_minute_still_counts_by_how_much_of_it_is_inside_the_last_60_s(
    limiter: RateLimiter,
) -> None:
    limit, who = Limit("t", 30), secrets.token_hex(4)
    for i in range(30):
        assert await limiter.hit(limit, who, 100 * MINUTE + 50_000 + i) is None
    # 15 s into the next window, 45 s of the full previous one are still inside the last
    # minute: 30 × 45/60 = 22.5 count, so 7 more fit and the 8th waits.
    now = 101 * MINUTE + 15_000
    assert [await limiter.hit(limit, who, now) for _ in range(7)] == [None] * 7
    wait = await limiter.hit(limit, who, now)
    assert wait is not None and 1 <= wait <= 45
    # Never twice the limit around a boundary, as a fixed window would allow.
    assert await limiter.hit(limit, who, now + wait * 1000) is None


async def test_a_limit_of_zero_is_off(limiter: RateLimiter) -> None:
    assert [await limiter.hit(Limit("t", 0), "x") for _ in range(100)] == [None] * 100


async def _clear(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        async for key in client.scan_iter("livequiz:rl:*"):
            await client.delete(key)
    finally:
        await client.aclose()


#: Runs of the cross-process test: a straddling run is followed by one early in a minute, which fits.
RUNS = 3


async def test_limits_hold_across_processes_per_ip_and_per_user(
    sql_target: SqlTarget, tmp_path: Path, redis_url: str, engine_url: str
) -> None:
    """Two server processes on one Redis, then on a Redis Cluster (`engine_url` forgets the
    cluster's budgets first; `_clear` the single Redis's, for later tests and runs).

    The limiter counts per wall-clock minute and weighs in the previous one, so requests that
    straddle a minute's end count a little less than they are and the one past the limit could
    pass. A run whose requests did not all fall within one minute (the servers stamp them
    between the first send and the last answer) is therefore played again, from a fresh
    address with fresh users: right after a minute began, the next run fits."""
    await _clear(redis_url)
    env = {"LIVEQUIZ_PLATFORM_RATE_ANONYMOUS": "10", "LIVEQUIZ_PLATFORM_RATE_USER": "6"}
    with platform_server(sql_target, tmp_path / "a", engine_url, env) as first, \
            platform_server(sql_target, tmp_path / "b", engine_url, env) as second:
        for run in range(RUNS):
            ada = await make_account(sql_target, f"ada_{run}")
            bob = await make_account(sql_target, f"bob_{run}")
            minute = time.time() // 60
            transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
            async with httpx.AsyncClient(transport=transport) as http:
                # Anonymous: 10 a minute from this address, whichever process answers.
                anonymous = [(await http.get(f"{(first, second)[i % 2].base_url}/api/me/results")).status_code
                             for i in range(10)]
                over = await http.get(second.base_url + "/api/me/results")
                # Signed in: counted per user, not per address (the address is over its limit).
                signed_in = [(await http.get(f"{(first, second)[i % 2].base_url}/api/me/results",
                                             headers=ada.headers)).status_code for i in range(6)]
                refused = await http.get(first.base_url + "/api/me/results", headers=ada.headers)
                other_user = await http.get(first.base_url + "/api/me/results", headers=bob.headers)
            if time.time() // 60 == minute:
                break
        else:
            raise AssertionError(f"{RUNS} runs in a row straddled a minute's end")
        assert anonymous == [401] * 10
        assert over.status_code == 429
        assert over.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        assert signed_in == [200] * 6
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert other_user.status_code == 200
    await _clear(redis_url)
