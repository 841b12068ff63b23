"""The cluster client queues for a connection like the single one (`QueueingRedisCluster`).

redis-py's cluster node pool raises `MaxConnectionsError` at once when a node's connections
are all in use; the client `open_redis` returns for a `redis+cluster://` URL makes commands,
Lua calls and pipelines wait their turn instead. Run against the session's real local Valkey
Cluster (3 masters, 3 replicas); connections are counted by the nodes themselves (CLIENT LIST).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from gameserver.redis_client import LuaScript, QueueingRedisCluster, close_redis, open_redis
from gameserver.store.batcher import Batcher
from tests.cluster_support import LocalCluster, _served_slots

POOL = 4
INCR_BY_ARGS = "return redis.call('INCRBY', KEYS[1], #ARGV)"


def _masters(cluster: LocalCluster) -> list[redis.Redis]:
    clients = [node.client() for node in cluster.nodes if node.alive()]
    return [client for client in clients if _served_slots(client)]


def _newest_client_id(master: redis.Redis) -> int:
    return int(master.execute_command("CLIENT", "ID"))  # type: ignore[no-untyped-call]


def _connections_since(master: redis.Redis, after_id: int) -> int:
    """Clients connected to this node after `after_id` that ran commands, this probe's own
    connection aside, and the one redis-py keeps open to a seed node after reading the slot
    map from it (not one of the node's pooled connections: its last command is CLUSTER SLOTS)."""
    mine = _newest_client_id(master)
    listed = master.execute_command("CLIENT", "LIST", "TYPE", "normal")  # type: ignore[no-untyped-call]
    text = listed.decode() if isinstance(listed, bytes) else str(listed)
    clients = [dict(field.split("=", 1) for field in line.split() if "=" in field) for line in text.splitlines()]
    return sum(1 for client in clients
               if after_id < int(client["id"]) != mine and client.get("cmd") not in ("cluster|slots", "cluster|shards"))


def _batcher(client: Any) -> Batcher[str, int, int]:
    """A store batcher (one pipeline of EVALSHA calls, one per key) adding its items' count."""
    return Batcher(
        client, LuaScript(client, INCR_BY_ARGS),
        lambda key, items: ([key], list(items)),
        lambda _key, items, reply: [int(reply)] * items,
        "test-pool",
    )


async def test_three_hundred_concurrent_calls_wait_for_four_connections_per_node(
    local_cluster: LocalCluster, cluster_url: str,
) -> None:
    masters = _masters(local_cluster)
    assert len(masters) == 3
    marks = [_newest_client_id(master) for master in masters]
    client = open_redis(cluster_url, pool_size=POOL)
    try:
        await client.execute_command("PING")  # learn the slot map before the burst
        script = LuaScript(client, INCR_BY_ARGS)
        batchers = [_batcher(client) for _ in range(20)]
        keys = [f"pooltest:{{{n}}}" for n in range(30)]  # hash tags spread over the three masters
        await client.delete(*keys)

        async def pipeline(n: int) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys[n % 10 :: 10]:  # three games' keys: usually several nodes
                    pipe.incr(key)
                return list(await pipe.execute())

        calls: list[Any] = []
        for n in range(75):
            key = keys[n % len(keys)]
            calls.append(client.incr(key))  # a plain command: +1
            calls.append(script([key], ["a", "b"]))  # a Lua call: +2
            calls.append(pipeline(n))  # +1 on each of three keys
            calls.append(batchers[n % len(batchers)].submit(key, 3))  # a batched script call: +1
        results = await asyncio.gather(*calls, return_exceptions=True)

        errors = [repr(result) for result in results if isinstance(result, BaseException)]
        assert len(errors) == 0, f"{len(errors)} of {len(results)} calls failed: {sorted(set(errors))[:3]}"
        values = [int(await client.get(key) or 0) for key in keys]
        assert sum(values) == 75 * (1 + 2 + 3 + 1)
        connections = [_connections_since(master, mark) for master, mark in zip(masters, marks, strict=True)]
        assert all(1 <= count <= POOL for count in connections), f"connections per master: {connections}"
        await client.delete(*keys)
    finally:
        await close_redis(client)
        for master in masters:
            master.close()


async def test_a_call_that_waits_too_long_for_a_connection_fails_as_on_one_redis(cluster_url: str) -> None:
    client = open_redis(cluster_url, pool_size=1, timeout_s=0.3)
    try:
        assert isinstance(client, QueueingRedisCluster)
        holding = asyncio.ensure_future(client.in_turn(asyncio.sleep(1, "done")))  # the one turn, for 1 s
        await asyncio.sleep(0.05)
        with pytest.raises(redis.ConnectionError, match="No connection available"):
            await client.get("pooltest:{other}")
        assert await holding == "done"
        assert await client.get("pooltest:{other}") is None  # and the turn is free again
    finally:
        await close_redis(client)
