"""A chat's spent-budget ledger (transports/telegram/ledger.py) reads the wall clock it is given:
on a `FakeClock` (far from real time, so the system's clock would see other windows), what it
recalls is the window of that clock, an entry left in flight ends at that clock's now, and a
pause is as long as that clock says. Against a real Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from gameserver.clock import FakeClock
from gameserver.redis_client import RedisClient, close_redis, open_redis
from transports.telegram.ledger import ChatLedger

CHAT = -100778
WINDOW_S = 60.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = open_redis(redis_url, 4)
    yield client
    await close_redis(client)


def ledger(redis: RedisClient, clock: FakeClock, owner: str = "a") -> ChatLedger:
    prefix = f"telegram:test{secrets.token_hex(4)}:"  # keys of their own
    return ChatLedger(redis, prefix, CHAT, WINDOW_S, owner, wall_ms=clock.now_ms)


async def test_the_window_recalled_is_the_clocks(redis: RedisClient) -> None:
    clock = FakeClock()
    book = ledger(redis, clock)
    try:
        slot = await book.began(urgent=True)
        await book.ended(slot, clock.now_ms() / 1000)
        first_s = clock.now_ms() / 1000
        await clock.advance(WINDOW_S - 1)
        assert (await book.recall()).ended == [(first_s, True)]  # still in the window
        await clock.advance(2)  # the first operation has left the window
        second = await book.began(urgent=False)
        await book.ended(second, clock.now_ms() / 1000)
        recalled = await book.recall()
        assert recalled.ended == [(clock.now_ms() / 1000, False)] and recalled.paused_until == 0.0
        assert await redis.zcard(book.spent_key) == 1  # trimmed on the write: at most a window kept
    finally:
        await redis.delete(book.spent_key, book.pause_key)


async def test_an_entry_left_in_flight_ends_at_the_clocks_now(redis: RedisClient) -> None:
    clock = FakeClock()
    book = ledger(redis, clock)
    try:
        assert await book.began(urgent=True) is not None  # its process dies before the answer
        await clock.advance(5)
        assert (await book.recall()).ended == [(clock.now_ms() / 1000, True)]
    finally:
        await redis.delete(book.spent_key, book.pause_key)


async def test_a_pause_lasts_what_is_left_of_it_on_the_clock(redis: RedisClient) -> None:
    clock = FakeClock()  # 2023: a pause until then is long over on the system's clock
    book = ledger(redis, clock)
    try:
        await book.paused(clock.now_ms() / 1000 - 1)  # over already: nothing to record
        assert await redis.get(book.pause_key) is None
        until_s = clock.now_ms() / 1000 + 30
        await book.paused(until_s)
        assert (await book.recall()).paused_until == until_s
        assert 29_000 < await redis.pttl(book.pause_key) <= 30_000  # Redis keeps it as long as is left
    finally:
        await redis.delete(book.spent_key, book.pause_key)
