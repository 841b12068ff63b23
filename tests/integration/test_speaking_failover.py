"""The Speaking room's channel through a failover of a Redis Cluster master: the master that owns
a room's slot is killed (SIGKILL) on a cluster of this test's own; the socket's subscription
does not go silent but ends with `SubscriptionLost` once it is subscribed again (the room then
closes the socket with "try again", 1011), and a room entered after the replica's promotion
publishes and hears its messages on the new master. End to end: a server on that cluster closes
a room's socket with 1011 "try again" when the room's master dies, and the room opens again."""

from __future__ import annotations

import asyncio
import gc
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from gameserver.atomic import AtomicBatch
from gameserver.platform import speaking_channel
from gameserver.platform.speaking_channel import SubscriptionLost
from gameserver.redis_client import RedisClient, close_redis, open_redis
from tests.cluster_support import LocalCluster
from tests.engine_support import sync_client
from tests.integration.test_speaking_room import booked_slot
from tests.platform_support import platform_server
from tests.speaking_support import RoomClient
from tests.sql_support import SqlTarget

pytestmark = [
    pytest.mark.slow,
    # redis-py drops the dead master's node object from its slot map without closing its
    # connections (to a process that no longer exists), and warns when it is collected: not
    # ours to close through any public API. Collected inside the test (`gc.collect` below).
    pytest.mark.filterwarnings("ignore:Unclosed ClusterNode:ResourceWarning"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of this test's own: it kills a node."""
    with LocalCluster(tmp_path / "cluster") as local:
        yield local


def wait_replicas_in_sync(cluster: LocalCluster, timeout_s: float = 30) -> None:
    """Until every replica has synchronised with its master: a replica that never did is not
    promoted when its master dies (Valkey refuses a failover to a replica with no data)."""
    deadline = time.monotonic() + timeout_s
    for node in cluster.nodes:
        with node.client() as client:
            while True:
                info = client.info("replication")
                if info.get("role") != "slave" or info.get("master_link_status") == "up":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica {node.address} did not synchronise")
                time.sleep(0.1)


async def publish(client: RedisClient, channel: str, data: bytes) -> None:
    batch = AtomicBatch(client, [channel])  # the channel's name carries the room's hash tag
    batch.announce(channel, data)
    await batch.execute()


async def publish_once_served(client: RedisClient, channel: str, data: bytes, timeout_s: float = 30) -> None:
    """Publish as soon as the slot has a master again (the replica is being promoted)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await publish(client, channel, data)
            return
        except RedisError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_failover_ends_the_subscription_and_a_new_room_relays_on_the_new_master(
    cluster: LocalCluster,
) -> None:
    channel = f"livequiz:speaking:{{{secrets.randbelow(10**9)}-1}}:channel"
    wait_replicas_in_sync(cluster)
    client = open_redis(cluster.url, 8)
    try:
        subscription = await speaking_channel.subscribe(client, channel)
        received = subscription.messages()
        await publish(client, channel, b"before")
        assert await asyncio.wait_for(anext(received), 5) == b"before"
        cluster.master_of(channel).kill()
        with pytest.raises(SubscriptionLost):
            await asyncio.wait_for(anext(received), 60)  # not silence: the room is told
        await subscription.close()

        await publish_once_served(client, channel, b"warm-up")  # the client has the new map
        again = await speaking_channel.subscribe(client, channel)
        try:
            await publish(client, channel, b"after")
            assert await asyncio.wait_for(anext(again.messages()), 5) == b"after"
        finally:
            await again.close()
    finally:
        await close_redis(client)
        gc.collect()


async def test_a_server_closes_the_rooms_sockets_with_try_again_and_the_room_opens_again(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    wait_replicas_in_sync(cluster)
    with SqlTarget("sqlite").prepared(tmp_path) as target, \
            platform_server(target, tmp_path / "server", cluster.url) as server:
        owner, _, slot_id = await booked_slot(server, target)
        grader = await RoomClient.connect(server.ws_url, slot_id, owner.headers)
        await grader.recv("welcome")
        with sync_client(cluster.url) as keys:
            room_key = next(iter(keys.scan_iter(f"livequiz:speaking:{{{slot_id}-*")))
        cluster.master_of(room_key.decode()).kill()
        assert await grader.closed_with(timeout=60) == (1011, "the room is unavailable; try again")
        again = await RoomClient.connect(server.ws_url, slot_id, owner.headers)
        assert (await again.recv("welcome", timeout=30))["role"] == "grader"
        await again.close()
