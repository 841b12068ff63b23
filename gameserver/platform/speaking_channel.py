"""The Speaking room's channel: published in the room's atomic batches, subscribed per socket.

On one Redis it is classic pub/sub (`PUBLISH`, and redis-py's `PubSub`, which reconnects and
subscribes again by itself).

On a Redis Cluster (`redis.asyncio.RedisCluster`, which has no pub/sub) it is sharded pub/sub.
The channel's name carries the room's hash tag (`speaking_keys.RoomKeys`), so `SPUBLISH` runs in
the same atomic batch as the room's keys (`gameserver.atomic`), on the master that owns the
room's slot, and costs that shard only (a classic `PUBLISH` is copied to every node of a
cluster). Each socket subscribes through the engine's sharded subscriber
(`gameserver.sharded_pubsub`: `SSUBSCRIBE` on that master, following `MOVED` and failovers).
When it had to subscribe again, messages may have been missed meanwhile: the iteration ends with
`SubscriptionLost`, and the room closes the socket with "try again" (1011): the page's rejoin
reads the chat backlog and negotiates afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from gameserver.sharded_pubsub import ShardedSubscription


class SubscriptionLost(RedisError):
    """The sharded subscription ended under the socket: the room cannot relay any more."""


class Subscription(Protocol):
    def messages(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


async def subscribe(redis: Redis | RedisCluster, channel: str) -> Subscription:
    """A subscription to `channel`, already confirmed by the server."""
    if isinstance(redis, RedisCluster):
        shard = ShardSubscription(redis, channel)
        await shard.open()
        return shard
    classic = ClassicSubscription(redis)
    await classic.open(channel)
    return classic


class ClassicSubscription:
    def __init__(self, redis: Redis) -> None:
        self.pubsub = redis.pubsub()

    async def open(self, channel: str) -> None:
        await self.pubsub.subscribe(channel)

    async def messages(self) -> AsyncIterator[bytes]:
        async for item in self.pubsub.listen():
            if item.get("type") == "message":
                yield item["data"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]


class ShardSubscription:
    """One room's channel through a `ShardedSubscription` of its own (one connection, to the
    master of the room's slot)."""

    def __init__(self, cluster: RedisCluster, channel: str) -> None:
        self.channel = channel
        self.received: asyncio.Queue[bytes | None] = asyncio.Queue()  # None: messages were missed
        self.shards = ShardedSubscription(cluster, self._on_message, self._on_resubscribed)

    async def open(self) -> None:
        await self.shards.start()
        await self.shards.subscribe(self.channel)

    async def _on_message(self, _channel: bytes, payload: bytes) -> None:
        self.received.put_nowait(payload)

    def _on_resubscribed(self) -> None:
        self.received.put_nowait(None)

    async def messages(self) -> AsyncIterator[bytes]:
        while True:
            payload = await self.received.get()
            if payload is None:
                raise SubscriptionLost("the room's channel was subscribed again: messages may be lost")
            yield payload

    async def close(self) -> None:
        await self.shards.stop()
