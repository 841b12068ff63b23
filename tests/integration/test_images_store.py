"""The question-image store on the real engine, one Redis and a Redis Cluster: content-addressed,
each image kept once, and the number of live images bounded (what is past its time no longer
counts). The index is one key for the whole store: the test owns it on a private Redis and on
the session's cluster (no other test stores images there)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from redis.crc import key_slot

from gameserver.images import INDEX_KEY, image_key, store_image
from gameserver.redis_client import RedisClient, close_redis, open_redis


@pytest.fixture(params=["embedded_redis_url", "cluster_url"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[RedisClient]:
    client = open_redis(request.getfixturevalue(request.param), pool_size=4)
    await client.delete(INDEX_KEY)
    yield client
    await close_redis(client)


async def test_the_store_is_bounded_and_keeps_each_image_once(redis: RedisClient) -> None:
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
    # Only the small index is one slot for the store; the images spread by their ids.
    second = hashlib.sha256(b"image two").hexdigest()
    assert len({key_slot(image_key(first).encode()), key_slot(image_key(second).encode())}) == 2
    assert 0 < await redis.ttl(image_key(first)) <= 60
    # Past their time, the images no longer count against the bound.
    later = now + 61_000
    assert await store_image(redis, b"image three", ttl_s=60, now_ms=later, max_count=2) is not None
    assert await redis.zcard(INDEX_KEY) == 1
