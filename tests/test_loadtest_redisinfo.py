"""loadtests/redisinfo.py: the Redis nodes' own INFO, read on one Redis and on a cluster,
and turned into per-node and total figures."""

from __future__ import annotations

import uuid

import redis

from loadtests.redisinfo import NodeStats, delta, snapshot
from tests.cluster_support import LocalCluster


def test_delta_counts_masters_commands_and_every_nodes_cpu() -> None:
    before = {
        "a": NodeStats("master", 1.0, {"evalsha": 10, "get": 5}, 100, 200, 50),
        "b": NodeStats("slave", 0.5, {"hset": 7}, 10, 20, 0),
    }
    after = {
        "a": NodeStats("master", 1.75, {"evalsha": 40, "get": 5, "spublish": 3}, 400, 900, 150),
        "b": NodeStats("slave", 0.75, {"hset": 37}, 60, 25, 0),
    }
    d = delta(before, after)
    assert d["master_cpu_s"] == 0.75
    assert d["replica_cpu_s"] == 0.25
    assert d["commands"] == {"evalsha": 30, "spublish": 3}  # a replica's replayed writes are not counted again
    assert d["nodes"]["b"]["commands"] == 30
    assert (d["net_in_bytes"], d["net_out_bytes"], d["repl_out_bytes"]) == (350, 705, 100)


def test_snapshot_of_one_redis_sees_the_commands_sent_between(redis_url: str) -> None:
    key = f"loadtest:redisinfo:{uuid.uuid4().hex}"
    before = snapshot(redis_url)
    with redis.Redis.from_url(redis_url) as client:
        for i in range(50):
            client.hset(key, str(i), i)
        client.delete(key)
    d = delta(before, snapshot(redis_url))
    assert len(d["nodes"]) == 1
    assert d["commands"]["hset"] >= 50  # others may share this Redis: at least ours
    assert d["net_in_bytes"] > 0


def test_snapshot_of_a_cluster_reads_every_node(local_cluster: LocalCluster) -> None:
    before = snapshot(local_cluster.url)
    assert len(before) == len(local_cluster.nodes)
    assert sorted(s.role for s in before.values()) == ["master"] * 3 + ["slave"] * 3
    key = f"{{loadtest-{uuid.uuid4().hex}}}:h"
    with local_cluster.master_of(key).client() as client:
        for i in range(20):
            client.hset(key, str(i), i)
        client.delete(key)
    d = delta(before, snapshot(local_cluster.url))
    assert d["commands"]["hset"] >= 20
