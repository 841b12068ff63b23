"""The Speaking room's channel: published in the room's atomic batches, heard through one
subscriber per process.

Every Speaking socket of a process hears its room through the process's `SpeakingChannels` (one
per Redis client, `channels_of`): one subscription of the kind the game hub uses
(`gameserver.subscription.subscription_for`: classic pub/sub on one Redis, sharded pub/sub on a
Redis Cluster), multiplexed by channel. A room's channel is subscribed when the room's first
socket in the process arrives and unsubscribed when its last one leaves; each message is put in
a bounded queue per socket. So a socket holds no Redis connection of its own: on one Redis the
subscriber takes one connection of the process's pool (`LIVEQUIZ_REDIS_POOL_SIZE`, shared with
every game) however many rooms are open, on a cluster one link per master that owns an open
room's slot. It starts with the process's first Speaking socket and stops when the last one
leaves, or at shutdown (`stop_channels`).

On a Redis Cluster (`redis.asyncio.RedisCluster`, which has no pub/sub) the channel is sharded
pub/sub. Its name carries the room's hash tag (`speaking_keys.RoomKeys`), so `SPUBLISH` runs in
the same atomic batch as the room's keys (`gameserver.atomic`), on the master that owns the
room's slot, and costs that shard only (a classic `PUBLISH` is copied to every node of a
cluster); the subscriber is the engine's (`gameserver.sharded_pubsub`: `SSUBSCRIBE` on that
master, following `MOVED` and failovers).

A socket's messages end with an exception, and the room closes the socket (`speaking_room`):

- `SubscriptionLost` when messages may have been missed: the subscription was lost and made
  again (a reconnection on one Redis, a failover or a moved slot on a cluster). The subscriber
  is not told which channels missed something, so every socket of the process is ended; the
  room closes each with "try again" (1011), and the page's rejoin reads the chat backlog and
  negotiates afresh.
- `FellBehind` when a socket does not take its messages as fast as they come (more than
  `QUEUE_MESSAGES`, or `QUEUE_BYTES`, wait for it): it is closed (1013), rather than let it
  hold memory without bound; the subscriber and the other sockets never wait for it.

A socket hears what is published after its `subscribe` returns; one that joins a room already
subscribed in its process may also hear a message published just before, still on its way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from redis.exceptions import RedisError

from gameserver import subscription
from gameserver.redis_client import RedisClient

log = logging.getLogger("livequiz.speaking")

#: Messages (and bytes) that may wait for one socket before it is closed as too slow. A room
#: carries chat and signalling: at most 20 messages a second per socket, bursts of 100.
QUEUE_MESSAGES = 256
QUEUE_BYTES = 1 << 20


class SubscriptionLost(RedisError):
    """The room's messages may have been missed: the socket cannot relay any more."""


class FellBehind(Exception):
    """More of the room's messages waited for the socket than it may hold."""


class Subscription(Protocol):
    def messages(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


async def subscribe(redis: RedisClient, channel: str) -> Subscription:
    """A subscription to `channel` through the process's subscriber of `redis` (started if
    need be): what is published once this returns reaches it."""
    return await channels_of(redis).subscribe(channel)


#: The process's `SpeakingChannels`, by Redis client (`id`: each entry holds its client).
_PROCESS: dict[int, SpeakingChannels] = {}


def channels_of(redis: RedisClient) -> SpeakingChannels:
    channels = _PROCESS.get(id(redis))
    if channels is None:
        channels = _PROCESS[id(redis)] = SpeakingChannels(redis)
    return channels


async def stop_channels(redis: RedisClient) -> None:
    """At shutdown: end the sockets' subscriptions and let go of the subscriber's connection."""
    channels = _PROCESS.pop(id(redis), None)
    if channels is not None:
        await channels.stop()


class RoomSubscription:
    """One socket's subscription to its room's channel: the messages the process's subscriber
    hands it, queued until the socket reads them."""

    def __init__(self, owner: SpeakingChannels, room: _Room, channel: str) -> None:
        self.owner = owner
        self.room = room
        self.channel = channel
        self._queued: deque[bytes] = deque()
        self._queued_bytes = 0
        self._ready = asyncio.Event()
        self._ended: Exception | None = None
        self._closed = False

    def deliver(self, payload: bytes) -> None:
        if self._ended is not None:
            return
        if len(self._queued) >= QUEUE_MESSAGES or self._queued_bytes + len(payload) > QUEUE_BYTES:
            self.end(FellBehind(f"{len(self._queued)} messages ({self._queued_bytes} bytes) waited for this socket"))
            return
        self._queued.append(payload)
        self._queued_bytes += len(payload)
        self._ready.set()

    def end(self, error: Exception) -> None:
        """Make `messages()` raise `error` next: what waits is dropped (the socket closes)."""
        if self._ended is None:
            self._ended = error
            self._queued.clear()
            self._queued_bytes = 0
            self._ready.set()

    async def messages(self) -> AsyncIterator[bytes]:
        while True:
            if self._ended is not None:
                raise self._ended
            if self._queued:
                payload = self._queued.popleft()
                self._queued_bytes -= len(payload)
                yield payload
                continue
            self._ready.clear()
            await self._ready.wait()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.room.listeners.discard(self)
            await self.owner.release(self.channel, self.room)


@dataclass(eq=False)
class _Room:
    """A channel's sockets in this process."""

    listeners: set[RoomSubscription] = field(default_factory=set)
    users: int = 0  # its sockets, and those arriving: the entry lives while there is any
    subscribed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # its SUBSCRIBE and UNSUBSCRIBE, in order


class SpeakingChannels:
    """The process's subscriber for every Speaking room, multiplexed by channel."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.rooms: dict[str, _Room] = {}
        self._subscription: subscription.Subscription | None = None
        self._lifecycle = asyncio.Lock()  # the subscriber's start and stop, one at a time
        self._stopped = False

    @property
    def running(self) -> bool:
        """Whether the subscriber is up (it holds its connection)."""
        return self._subscription is not None

    async def subscribe(self, channel: str) -> RoomSubscription:
        room = self.rooms.get(channel)
        if room is None:
            room = self.rooms[channel] = _Room()
        room.users += 1  # from here the room (and so the subscriber) is kept
        try:
            async with room.lock:
                if not room.subscribed:
                    active = await self._started()
                    await active.subscribe(channel)
                    room.subscribed = True
                listener = RoomSubscription(self, room, channel)
                room.listeners.add(listener)
                return listener
        except BaseException:
            await self.release(channel, room)
            raise

    async def release(self, channel: str, room: _Room) -> None:
        """One user of `room` fewer: the last one unsubscribes its channel, and the subscriber
        stops with the process's last room."""
        async with room.lock:
            room.users -= 1
            if room.users == 0 and room.subscribed:
                room.subscribed = False
                if self._subscription is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._subscription.unsubscribe(channel)
            if room.users == 0 and self.rooms.get(channel) is room:  # nobody arrived meanwhile
                del self.rooms[channel]
        if not self.rooms:
            await self._stop_when_idle()

    async def stop(self) -> None:
        self._stopped = True
        self._end_all("the server is stopping")
        async with self._lifecycle:
            active, self._subscription = self._subscription, None
            if active is not None:
                await active.stop()

    async def _started(self) -> subscription.Subscription:
        async with self._lifecycle:
            if self._stopped:
                raise SubscriptionLost("the server is stopping")
            if self._subscription is None:
                active = subscription.subscription_for(self.redis, self._on_message, self._on_resubscribed)
                try:
                    await active.start()
                except BaseException:
                    await active.stop()  # gives back the connection a failed start may hold
                    raise
                self._subscription = active
            return self._subscription

    async def _stop_when_idle(self) -> None:
        async with self._lifecycle:
            if self.rooms:
                return  # a socket arrived meanwhile
            if _PROCESS.get(id(self.redis)) is self:  # the next socket finds a new one
                del _PROCESS[id(self.redis)]
            active, self._subscription = self._subscription, None
            if active is not None:
                await active.stop()

    async def _on_message(self, channel: bytes, payload: bytes) -> None:
        room = self.rooms.get(channel.decode())
        if room is not None:
            for listener in room.listeners:
                listener.deliver(payload)

    def _on_resubscribed(self) -> None:
        log.warning("the Speaking rooms' subscription was made again: their sockets rejoin")
        self._end_all("the room's channel was subscribed again: messages may be lost")

    def _end_all(self, reason: str) -> None:
        for room in self.rooms.values():
            for listener in room.listeners:
                listener.end(SubscriptionLost(reason))
