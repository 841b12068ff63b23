"""The question-image store on the real engine: content-addressed, each image kept once, and the
number of live images bounded (what is past its time no longer counts)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gameserver.images import INDEX_KEY, image_key, store_image


@pytest.fixture
async def redis(embedded_redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_redis_url)
    await client.delete(INDEX_KEY)
    yield client
    await client.aclose()


async def test_the_store_is_bounded_and_keeps_each_image_once(redis: Redis) -> None:
    now = 1_000_000
    first = await store_image(redis, b"image one", ttl_s=60, now_ms=now, max_count=2)
    assert first == hashlib.sha256(b"image one").hexdigest()
    assert await redis.get(image_key(first)) == b"image one"
    assert await store_image(redis, b"image two", ttl_s=60, now_ms=now, max_count=2) is not None
    # Full: a third image is refused and not stored; a known one is still taken.
    assert await store_image(redis, b"image three", ttl_s=60, now_ms=now, max_count=2) is None
    assert await redis.get(image_key(hashlib.sha256(b"image three").hexdigest())) is None
    assert await store_image(redis, b"image one", ttl_s=60, now_ms=now + 1, max_count=2) == first
    assert await redis.zcard(INDEX_KEY) == 2
    assert 0 < await redis.ttl(image_key(first)) <= 60
    # Past their time, the images no longer count against the bound.
    later = now + 61_000
    assert await store_image(redis, b"image three", ttl_s=60, now_ms=later, max_count=2) is not None
    assert await redis.zcard(INDEX_KEY) == 1
