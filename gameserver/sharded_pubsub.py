"""Sharded pub/sub on a Redis Cluster: SSUBSCRIBE on the node that owns each game's slot.

redis-py's asyncio `RedisCluster` has no pub/sub, and its asyncio `PubSub` has no SSUBSCRIBE,
so this module speaks the few commands itself, with public redis-py pieces only: the
cluster's slot map (`RedisCluster.get_node_from_key`), its connection settings
(`get_connection_kwargs`) and plain `redis.asyncio.Connection`s (`send_command`,
`read_response`). The subscription interface is the hub's (`subscription.Subscription`).

Theory of operation. One connection per master node that owns a subscribed channel's slot
(a "link", `sharded_link.Link`), in RESP2 subscribed mode, read by one task. A channel is
placed on the node the cluster's slot map names; `subscribe` sends SSUBSCRIBE and waits for
its confirmation, so the caller may read the game's state right after and miss no event.

Nodes do not wait for each other: only the opening of a link is serialized, per node, and
opening one and a confirmation each wait at most `sharded_link.SUBSCRIBE_TIMEOUT_S`. A node
that stops answering (a stopped process, a partition that resets nothing) so delays only its
own channels: their `subscribe` returns after the timeout and they are placed in the
background. A link left with no channel for `IDLE_CLOSE_S` is closed; the next channel of
that node opens a new one. Three things move a channel:

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
import time
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, RedisError

from gameserver.sharded_link import Link
from gameserver.subscription import OnMessage, OnResubscribed

log = logging.getLogger(__name__)

#: Pause between attempts to place a channel whose node cannot be reached (failover).
RETRY_S = 0.25
#: Seconds a link may carry no channel before it is closed.
IDLE_CLOSE_S = 30.0


class ShardedSubscription:
    """`subscription.Subscription` on a Redis Cluster: SSUBSCRIBE per game, node by node."""

    def __init__(self, cluster: RedisCluster, on_message: OnMessage, on_resubscribed: OnResubscribed) -> None:
        self.cluster = cluster
        self.on_message = on_message
        self.on_resubscribed = on_resubscribed
        self.wanted: set[str] = set()
        self.links: dict[str, Link] = {}
        self.placed: dict[str, Link] = {}  # channel -> the link it is subscribed on
        self._opening: dict[str, asyncio.Lock] = {}  # node -> held while its link is opened
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: set[Link] = set()  # idle links being closed

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
        if link is not None and self.links.get(link.name) is link:
            await self._sunsubscribe(link, channel)

    async def _sunsubscribe(self, link: Link, channel: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await link.sunsubscribe(channel)
        if not link.channels:
            link.idle_since = time.monotonic()
            self._arm_idle_close(link)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for link in [*self.links.values(), *self._closing]:
            await link.close()
        self.links.clear()
        self._closing.clear()
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
                if channel in self.placed:
                    return
                link = await self._link(*address)
                if channel in self.placed or channel not in self.wanted:
                    return
                await link.ssubscribe(channel)
                if self.links.get(link.name) is not link:  # lost right after confirming
                    continue
                if channel not in link.channels:  # the node gave the slot away right after
                    address = None
                    continue
                if channel not in self.wanted:  # unsubscribed while it was being placed
                    await self._sunsubscribe(link, channel)
                    return
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

    async def _link(self, host: str, port: int) -> Link:
        """The open link to a node, opened first if need be: one opening at a time per node,
        so a node that does not answer holds up only the channels placed on it."""
        name = f"{host}:{port}"
        link = self.links.get(name)
        if link is not None:
            return link
        async with self._opening.setdefault(name, asyncio.Lock()):
            link = self.links.get(name)
            if link is None:
                link = Link(self, host, port)
                await link.open()
                self.links[name] = link
                self._arm_idle_close(link)
        return link

    # -- closing idle links ----------------------------------------------------------------

    def _arm_idle_close(self, link: Link) -> None:
        if link.idle_timer is None:
            delay = max(IDLE_CLOSE_S / 10, link.idle_since + IDLE_CLOSE_S - time.monotonic())
            link.idle_timer = asyncio.get_running_loop().call_later(delay, self._idle_check, link)

    def _idle_check(self, link: Link) -> None:
        link.idle_timer = None
        if self.links.get(link.name) is not link or link.channels:
            return  # gone already, or in use: armed again when its last channel leaves
        if link.pending or time.monotonic() < link.idle_since + IDLE_CLOSE_S:
            self._arm_idle_close(link)  # a command under way, or used again meanwhile
            return
        del self.links[link.name]
        log.info("closing the idle sharded pub/sub link to %s", link.name)
        self._closing.add(link)
        self._spawn(self._close(link))

    async def _close(self, link: Link) -> None:
        await link.close()
        self._closing.discard(link)

    # -- what links report ---------------------------------------------------------------

    async def link_lost(self, link: Link) -> None:
        if link.idle_timer is not None:
            link.idle_timer.cancel()
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

    def moved_away(self, channel: str, link: Link) -> None:
        if self.placed.get(channel) is not link:  # a late copy: it is placed elsewhere now
            return
        del self.placed[channel]
        if not link.channels:
            self._arm_idle_close(link)
        self._spawn(self._replace([channel]))

    async def _replace(self, channels: list[str]) -> None:
        await self._refresh_map(channels[0])
        await asyncio.gather(*(self._place(channel, retry=True) for channel in channels))
        log.info("re-subscribed %d game channel(s)", len(channels))
        self.on_resubscribed()

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name="sharded-pubsub")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
