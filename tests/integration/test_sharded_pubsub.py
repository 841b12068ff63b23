"""The cluster's sharded pub/sub (`gameserver.sharded_pubsub`) against a real local cluster:
a game channel is subscribed on the master that owns its slot, follows the slot when it moves
to another master, comes back after its connection is cut, and each time tells its owner
(the hub catches up then), and a link left with no channel is closed after a while."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio.cluster import RedisCluster

from gameserver import sharded_pubsub
from gameserver.sharded_pubsub import ShardedSubscription
from tests.cluster_support import LocalCluster
from tests.cluster_support import cluster_client as open_cluster_client


class Heard:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []
        self.resubscribed = 0
        self.changed = asyncio.Event()

    async def on_message(self, channel: bytes, data: bytes) -> None:
        self.messages.append((channel, data))
        self.changed.set()

    def on_resubscribed(self) -> None:
        self.resubscribed += 1
        self.changed.set()

    async def until(self, condition: object, timeout: float = 15) -> None:
        async def wait() -> None:
            while not condition():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def cluster_client(cluster_url: str) -> AsyncIterator[RedisCluster]:
    async with open_cluster_client(cluster_url) as client:
        yield client


async def test_a_channel_follows_its_slot_to_another_master(
    cluster_client: RedisCluster, local_cluster: LocalCluster,
) -> None:
    heard = Heard()
    subscription = ShardedSubscription(cluster_client, heard.on_message, heard.on_resubscribed)
    await subscription.start()
    channel = f"game:{{mv{secrets.token_hex(4)}}}:events"
    try:
        await subscription.subscribe(channel)
        source = local_cluster.master_of(channel)
        assert subscription.placed[channel].name == source.address
        await cluster_client.execute_command("SPUBLISH", channel, b"before")
        await heard.until(lambda: len(heard.messages) == 1)

        target = next(n for n in local_cluster.nodes if n is not source and n.port in _master_ports(local_cluster))
        await asyncio.to_thread(local_cluster.move_slot, cluster_client.keyslot(channel), target)
        await heard.until(lambda: heard.resubscribed == 1)  # the old owner's sunsubscribe, then MOVED
        assert subscription.placed[channel].name == target.address
        await cluster_client.execute_command("SPUBLISH", channel, b"after")  # the client follows MOVED
        await heard.until(lambda: len(heard.messages) == 2)
        assert heard.messages == [(channel.encode(), b"before"), (channel.encode(), b"after")]
    finally:
        await subscription.stop()


async def test_a_cut_link_is_subscribed_again_and_reported(
    cluster_client: RedisCluster, local_cluster: LocalCluster,
) -> None:
    heard = Heard()
    subscription = ShardedSubscription(cluster_client, heard.on_message, heard.on_resubscribed)
    await subscription.start()
    channel = f"game:{{cut{secrets.token_hex(4)}}}:events"
    try:
        await subscription.subscribe(channel)
        with local_cluster.master_of(channel).client() as node:
            assert node.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
        await heard.until(lambda: heard.resubscribed == 1)
        await cluster_client.execute_command("SPUBLISH", channel, b"again")
        await heard.until(lambda: len(heard.messages) == 1)
        assert heard.messages == [(channel.encode(), b"again")]
    finally:
        await subscription.stop()


async def test_unsubscribed_channels_hear_nothing_more(cluster_client: RedisCluster) -> None:
    heard = Heard()
    subscription = ShardedSubscription(cluster_client, heard.on_message, heard.on_resubscribed)
    await subscription.start()
    kept, dropped = (f"game:{{{name}{secrets.token_hex(4)}}}:events" for name in ("kept", "gone"))
    try:
        await subscription.subscribe(kept)
        await subscription.subscribe(dropped)
        await subscription.unsubscribe(dropped)
        await cluster_client.execute_command("SPUBLISH", dropped, b"unheard")
        await cluster_client.execute_command("SPUBLISH", kept, b"heard")
        await heard.until(lambda: len(heard.messages) == 1)
        await asyncio.sleep(0.2)
        assert heard.messages == [(kept.encode(), b"heard")]
        assert heard.resubscribed == 0
    finally:
        await subscription.stop()


async def test_an_idle_link_is_closed_and_opened_again_on_demand(
    cluster_client: RedisCluster, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node's link with no channel left for `IDLE_CLOSE_S` is closed; one still carrying a
    channel, or given one again in time, is kept; the next channel of a closed link's node
    opens a new one, which hears what is published."""
    monkeypatch.setattr(sharded_pubsub, "IDLE_CLOSE_S", 0.5)
    by_node: dict[str, list[str]] = {}
    while len(by_node) < 2 or min(len(channels) for channels in by_node.values()) < 3:
        channel = f"game:{{idle{secrets.token_hex(4)}}}:events"
        node = cluster_client.get_node_from_key(channel)
        assert node is not None
        by_node.setdefault(node.name, []).append(channel)
    busy, idle = list(by_node)[:2]
    kept = by_node[busy][0]
    first, again, later = by_node[idle][:3]
    heard = Heard()
    subscription = ShardedSubscription(cluster_client, heard.on_message, heard.on_resubscribed)
    await subscription.start()
    try:
        await subscription.subscribe(kept)
        await subscription.subscribe(first)
        busy_link, idle_link = subscription.links[busy], subscription.links[idle]
        await subscription.unsubscribe(first)
        await asyncio.sleep(1.5)
        assert idle not in subscription.links and not idle_link.conn.is_connected
        assert subscription.links[busy] is busy_link and busy_link.conn.is_connected

        await subscription.subscribe(again)  # a new link to that node
        reopened = subscription.links[idle]
        assert reopened is not idle_link
        await cluster_client.execute_command("SPUBLISH", again, b"reopened")
        await heard.until(lambda: (again.encode(), b"reopened") in heard.messages)
        await subscription.unsubscribe(again)
        await asyncio.sleep(0.25)
        await subscription.subscribe(later)  # used again within the idle time: kept
        await asyncio.sleep(1.0)
        assert subscription.links[idle] is reopened and reopened.conn.is_connected
        assert heard.resubscribed == 0
    finally:
        await subscription.stop()


def _master_ports(cluster: LocalCluster) -> set[int]:
    ports = set()
    for node in cluster.nodes:
        with node.client() as client:
            if client.execute_command("ROLE")[0] in (b"master", "master"):
                ports.add(node.port)
    return ports
