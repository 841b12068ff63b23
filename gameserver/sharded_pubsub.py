"""Sharded pub/sub on a Redis Cluster: SSUBSCRIBE on the node that owns each game's slot.

redis-py's asyncio `RedisCluster` has no pub/sub, and its asyncio `PubSub` has no SSUBSCRIBE,
so this module speaks the few commands itself, with public redis-py pieces only: the
cluster's slot map (`RedisCluster.get_node_from_key`), its connection settings
(`get_connection_kwargs`) and plain `redis.asyncio.Connection`s (`send_command`,
`read_response`). The subscription interface is the hub's (`subscription.Subscription`).

Theory of operation. One connection per master node that owns a subscribed channel's slot
(a "link"), in RESP2 subscribed mode, read by one task. A channel is placed on the node the
cluster's slot map names; `subscribe` sends SSUBSCRIBE and waits for its confirmation, so the
caller may read the game's state right after and miss no event. Replies come in the order of
the commands, so each link keeps a queue of the commands awaiting theirs: a confirmation or an
error answers the oldest one. Three things move a channel:

- `-MOVED slot host:port` (the map was stale): SSUBSCRIBE again on the node it names;
  `-ASK` (the slot is being migrated): again after a short pause, until the move completes;
- a `sunsubscribe` no command asked for: the node gave the slot away (a reshard, or it became
  a replica); the channel is placed again;
- the link fails (the node died, a failover; or it stays silent through a PING): every
  channel it carried is placed again, after a command through the cluster client has made
  that client refresh its slot map (a promoted replica takes a few seconds to be elected).

Events published while a channel was not subscribed are lost: after any re-subscribe the
hub is told (`on_resubscribed`) and reads its games' state (`gamesync.GameSync.catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from redis.asyncio import Connection
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, RedisError, ResponseError

from gameserver.subscription import OnMessage, OnResubscribed

log = logging.getLogger(__name__)

#: Seconds of silence after which a link is PINGed, and then given up if still silent.
HEALTH_S = 5.0
#: Pause between attempts to place a channel whose node cannot be reached (failover).
RETRY_S = 0.25
CONFIRM_TIMEOUT_S = 10.0


class _Link:
    """One subscribed-mode connection to one master node, read by its own task."""

    def __init__(self, owner: ShardedSubscription, host: str, port: int) -> None:
        self.owner = owner
        self.name = f"{host}:{port}"
        kwargs: dict[str, Any] = {k: v for k, v in owner.cluster.get_connection_kwargs().items()
                                  if k not in ("max_connections", "connection_class", "response_callbacks")}
        kwargs |= {"host": host, "port": port, "protocol": 2, "socket_timeout": None, "socket_keepalive": True}
        self.conn = Connection(**kwargs)
        self.channels: set[str] = set()
        self.pending: deque[tuple[str, str, asyncio.Future[None] | None]] = deque()
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.conn.connect()  # type: ignore[no-untyped-call]
        self.reader = asyncio.create_task(self._read(), name=f"sharded-pubsub-{self.name}")

    async def ssubscribe(self, channel: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(("ssubscribe", channel, done))
        await self.conn.send_command("SSUBSCRIBE", channel)
        await asyncio.wait_for(done, CONFIRM_TIMEOUT_S)
        self.channels.add(channel)

    async def sunsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self.pending.append(("sunsubscribe", channel, None))
        await self.conn.send_command("SUNSUBSCRIBE", channel)

    async def _read(self) -> None:
        pinged = False
        try:
            while True:
                try:
                    reply = await self.conn.read_response(timeout=HEALTH_S)
                except ResponseError as error:  # an error answers the oldest command
                    self._answer(error)
                    continue
                if reply is None:  # silent for HEALTH_S: one PING, then the link is given up
                    if pinged:
                        raise ConnectionError(f"no answer to PING from {self.name}")
                    pinged = True
                    await self.conn.send_command("PING")
                    continue
                pinged = False
                await self._handle(reply)
        except asyncio.CancelledError:
            raise
        except (TimeoutError, RedisError, OSError) as error:
            log.warning("sharded pub/sub link to %s lost: %s", self.name, error)
        await self.owner.link_lost(self)

    async def _handle(self, reply: Any) -> None:
        kind = reply[0]
        if kind == b"smessage":
            await self.owner.on_message(reply[1], reply[2])
        elif kind == b"ssubscribe":
            self._answer(None)
        elif kind == b"sunsubscribe":
            channel = reply[1].decode()
            if self.pending and self.pending[0][:2] == ("sunsubscribe", channel):
                self.pending.popleft()
            else:  # the node no longer serves the slot: place the channel again
                self.channels.discard(channel)
                self.owner.moved_away(channel)

    def _answer(self, error: Exception | None) -> None:
        if not self.pending:
            return
        _, _, done = self.pending.popleft()
        if done is not None and not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        for _, _, done in self.pending:
            if done is not None and not done.done():
                done.set_exception(ConnectionError(f"sharded pub/sub link to {self.name} closed"))
        with contextlib.suppress(Exception):
            await self.conn.disconnect()


class ShardedSubscription:
    """`subscription.Subscription` on a Redis Cluster: SSUBSCRIBE per game, node by node."""

    def __init__(self, cluster: RedisCluster, on_message: OnMessage, on_resubscribed: OnResubscribed) -> None:
        self.cluster = cluster
        self.on_message = on_message
        self.on_resubscribed = on_resubscribed
        self.wanted: set[str] = set()
        self.links: dict[str, _Link] = {}
        self.placed: dict[str, _Link] = {}  # channel -> the link it is subscribed on
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.cluster.initialize()

    async def subscribe(self, channel: str) -> None:
        """Subscribed when this returns, unless the node cannot be reached (a failover under
        way): then it keeps trying in the background and the hub catches up once it is."""
        self.wanted.add(channel)
        try:
            await self._place(channel, retry=False)
        except (TimeoutError, RedisError, OSError) as error:
            log.warning("could not subscribe %s now (%s); retrying in the background", channel, error)
            self._spawn(self._replace([channel]))

    async def unsubscribe(self, channel: str) -> None:
        self.wanted.discard(channel)
        link = self.placed.pop(channel, None)
        if link is not None and link.name in self.links:
            with contextlib.suppress(RedisError, OSError):
                await link.sunsubscribe(channel)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for link in list(self.links.values()):
            await link.close()
        self.links.clear()
        self.placed.clear()

    # -- placing channels ----------------------------------------------------------------

    async def _place(self, channel: str, *, retry: bool) -> None:
        """SSUBSCRIBE `channel` on the node that owns its slot, following MOVED and ASK. With
        `retry`, until it succeeds or the channel is no longer wanted (a failover may take
        seconds); without, the first failure other than a redirection is raised."""
        address: tuple[str, int] | None = None
        while channel in self.wanted:
            try:
                if address is None:
                    node = self.cluster.get_node_from_key(channel)
                    if node is None:
                        raise ConnectionError(f"no node serves the slot of {channel}")
                    address = (str(node.host), int(node.port))
                async with self._lock:
                    if self.placed.get(channel) is not None or channel not in self.wanted:
                        return
                    link = await self._link(*address)
                    await link.ssubscribe(channel)
                    self.placed[channel] = link
                return
            except MovedError as moved:  # the slot map was stale: the node says where
                address = (str(moved.host), int(moved.port))
            except AskError:  # the slot is migrating: once done, the old owner answers MOVED
                await asyncio.sleep(RETRY_S)
            except (TimeoutError, RedisError, OSError) as error:
                if not retry:
                    raise
                log.info("could not subscribe %s yet: %s", channel, error)
                address = None
                await asyncio.sleep(RETRY_S)
                await self._refresh_map(channel)

    async def _refresh_map(self, channel: str) -> None:
        """Have the cluster client learn the current slot map (it refreshes it when a command
        fails on a dead node or is MOVED) by reading a key of the channel's slot."""
        with contextlib.suppress(RedisError, OSError):
            await self.cluster.execute_command("EXISTS", channel)

    async def _link(self, host: str, port: int) -> _Link:
        name = f"{host}:{port}"
        link = self.links.get(name)
        if link is None:
            link = _Link(self, host, port)
            await link.open()
            self.links[name] = link
        return link

    # -- what links report ---------------------------------------------------------------

    async def link_lost(self, link: _Link) -> None:
        if self.links.get(link.name) is link:
            del self.links[link.name]
        channels = [channel for channel, placed in self.placed.items() if placed is link]
        for channel in channels:
            del self.placed[channel]
        for _, _, done in link.pending:
            if done is not None and not done.done():
                done.set_exception(ConnectionError(f"sharded pub/sub link to {link.name} lost"))
        with contextlib.suppress(Exception):
            await link.conn.disconnect()
        if channels:
            self._spawn(self._replace(channels))

    def moved_away(self, channel: str) -> None:
        link = self.placed.pop(channel, None)
        if link is not None:
            self._spawn(self._replace([channel]))

    async def _replace(self, channels: list[str]) -> None:
        await self._refresh_map(channels[0])
        await asyncio.gather(*(self._place(channel, retry=True) for channel in channels))
        log.info("re-subscribed %d game channel(s)", len(channels))
        self.on_resubscribed()

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name="sharded-pubsub-replace")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
