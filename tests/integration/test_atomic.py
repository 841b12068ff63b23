"""`AtomicBatch`: several commands as one step, on one Redis and on the local cluster, and
never a thread (redis-py's cluster transaction pipeline starts one per queued command and joins
it on the server's event loop: the canary test below fails the day it stops doing so)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import RedisCluster
from redis.exceptions import ResponseError

from gameserver.atomic import AtomicBatch
from gameserver.platform import speaking_channel
from gameserver.redis_client import RedisClient


def _tag() -> str:
    return "{atomic-" + uuid.uuid4().hex + "}"


@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Thread starts are refused and remembered while the test runs."""
    started: list[str] = []

    def refuse(thread: threading.Thread) -> None:
        started.append(thread.name)
        raise AssertionError("a thread was started")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    yield started


async def test_replies_come_back_in_order_raw(engine: RedisClient, no_threads: list[str]) -> None:
    tag = _tag()
    meta, quiz = f"livequiz:{tag}:meta", f"livequiz:{tag}:quiz"
    await engine.hset(meta, mapping={"gid": "g1", "created": "123"})  # type: ignore[misc]
    await engine.set(quiz, b"{}")
    batch = AtomicBatch(engine, [meta, quiz])
    batch.hmget(meta, ["gid", "created"])
    batch.get(quiz)
    batch.get(f"livequiz:{tag}:absent")
    batch.set(f"livequiz:{tag}:new", "x", ex=60)
    batch.exists(quiz, f"livequiz:{tag}:absent")
    assert await batch.execute() == [[b"g1", b"123"], b"{}", None, b"OK", 1]
    assert await engine.ttl(f"livequiz:{tag}:new") > 0
    assert no_threads == []


async def test_an_empty_batch_sends_nothing_and_keys_are_required(engine: RedisClient) -> None:
    assert await AtomicBatch(engine, ["k"]).execute() == []
    with pytest.raises(ValueError):
        AtomicBatch(engine, [])


async def test_an_error_stops_the_batch_where_it_failed(engine: RedisClient) -> None:
    tag = _tag()
    text, after = f"livequiz:{tag}:text", f"livequiz:{tag}:after"
    await engine.set(text, "not a number")
    batch = AtomicBatch(engine, [text, after])
    batch.set(f"livequiz:{tag}:before", "1")
    batch.incr(text)
    batch.set(after, "1")
    with pytest.raises(ResponseError):
        await batch.execute()
    assert await engine.get(f"livequiz:{tag}:before") == b"1"
    assert await engine.get(after) is None


async def test_no_other_client_sees_half_a_batch(engine: RedisClient) -> None:
    """A reader polling two counters while batches raise both never sees them differ."""
    tag = _tag()
    one, two = f"livequiz:{tag}:one", f"livequiz:{tag}:two"
    await engine.mset({one: 0, two: 0})
    differ: list[Any] = []

    async def write() -> None:
        for _ in range(200):
            batch = AtomicBatch(engine, [one, two])
            batch.incr(one)
            batch.incr(two)
            await batch.execute()

    async def read() -> None:
        for _ in range(200):
            values = await engine.mget([one, two])
            if values[0] != values[1]:
                differ.append(values)

    await asyncio.gather(write(), read(), write(), read())
    assert differ == []
    assert await engine.mget([one, two]) == [b"400", b"400"]


async def test_announce_publishes_on_the_shape_of_the_engine(engine: RedisClient) -> None:
    tag = _tag()
    backlog, channel = f"livequiz:{tag}:backlog", f"livequiz:{tag}:channel"
    subscription = await speaking_channel.subscribe(engine, channel)
    try:
        batch = AtomicBatch(engine, [backlog])
        batch.rpush(backlog, b"m1")
        batch.announce(channel, b"m1")
        await batch.execute()
        received = await asyncio.wait_for(anext(subscription.messages()), 5)
    finally:
        await subscription.close()
    assert received == b"m1"
    assert await engine.lrange(backlog, 0, -1) == [b"m1"]  # type: ignore[misc]


async def test_redis_py_cluster_transactions_still_start_threads(engine: RedisClient, no_threads: list[str]) -> None:
    """Why `AtomicBatch` exists: if this starts failing, redis-py's cluster transaction no
    longer starts a thread per command, and `AtomicBatch` could go back to `MULTI`."""
    if not isinstance(engine, RedisCluster):
        pytest.skip("one Redis: redis-py's transaction pipeline starts no thread")
    with pytest.raises(TypeError, match="AtomicBatch"):
        engine.pipeline(transaction=True)  # the server's client refuses it outright
    with pytest.raises(AssertionError, match="a thread was started"):
        async with RedisCluster.pipeline(engine, transaction=True) as pipe:  # redis-py's own
            pipe.get(f"livequiz:{_tag()}:x")
            await pipe.execute()
    assert no_threads
