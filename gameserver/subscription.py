"""How the hub hears its games' events: one interface, one implementation per Redis shape.

The hub (`hub/core.py`) subscribes to the channel of every game it holds sockets of and hands each
event to `on_message(channel, payload)`, in the order the game published them. When events may
have been missed (the subscription was lost and is back, or moved to another node) the
subscription calls `on_resubscribed()`, and the hub reads its games' state instead
(`gamesync.GameSync.catch_up`).

- `ClassicSubscription`: one Redis, plain SUBSCRIBE on one redis-py `PubSub` connection
  (which re-subscribes every channel by itself when it reconnects): the hot path.
- `sharded_pubsub.ShardedSubscription`: a Redis Cluster, SSUBSCRIBE on the node owning each
  game's slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

from gameserver.redis_client import RedisClient

log = logging.getLogger(__name__)

#: (channel, payload) of one event, awaited before the next is read: events keep their order.
OnMessage = Callable[[bytes, bytes], Awaitable[None]]
#: Called when events may have been missed meanwhile (the subscription is back).
OnResubscribed = Callable[[], None]

#: A process-wide channel that keeps the classic pub/sub connection open with no games.
PROCESS_CHANNEL = "livequiz:process"


class Subscription(Protocol):
    """Calls may overlap: those for one channel take effect in the order they were made, and
    on a cluster a node that does not answer holds up only the channels it serves."""

    async def start(self) -> None: ...

    async def subscribe(self, channel: str) -> None:
        """Subscribed when this returns: what is published afterwards reaches `on_message`."""

    async def unsubscribe(self, channel: str) -> None: ...

    async def stop(self) -> None: ...


class ClassicSubscription:
    """SUBSCRIBE on one Redis: one `PubSub` connection, read by one task."""

    def __init__(self, redis: Redis, on_message: OnMessage, on_resubscribed: OnResubscribed) -> None:
        self.redis = redis
        self.on_message = on_message
        self.on_resubscribed = on_resubscribed
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._commands = asyncio.Lock()  # one connection: its commands one at a time, in order

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(PROCESS_CHANNEL)
        self._reader = asyncio.create_task(self._read(), name="hub-reader")

    async def subscribe(self, channel: str) -> None:
        assert self._pubsub is not None
        async with self._commands:
            await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        assert self._pubsub is not None
        async with self._commands:
            await self._pubsub.unsubscribe(channel)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self) -> None:
        assert self._pubsub is not None
        lost = False
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pub/sub read failed; retrying")
                lost = True
                await asyncio.sleep(0.5)
                continue
            if lost:
                # A read succeeded: redis-py reconnected and subscribed every channel again.
                # What was published in between never reaches us.
                lost = False
                self.on_resubscribed()
            if message is None or message.get("type") != "message":
                continue
            await self.on_message(message["channel"], message["data"])


def subscription_for(redis: RedisClient, on_message: OnMessage, on_resubscribed: OnResubscribed) -> Subscription:
    if isinstance(redis, RedisCluster):
        from gameserver.sharded_pubsub import ShardedSubscription  # cluster deployments only

        return ShardedSubscription(redis, on_message, on_resubscribed)
    return ClassicSubscription(redis, on_message, on_resubscribed)
