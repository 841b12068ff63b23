"""A synchronous client of either Redis shape the server runs on, for tests that look at keys
from outside (`gameserver.redis_client` makes the server's asyncio ones)."""

from __future__ import annotations

import redis

from gameserver.redis_client import cluster_seeds, is_cluster_url
from tests.cluster_support import LocalCluster

#: Per-address budgets (`gameserver.iplimits`, the platform's limits): a test that spends one
#: must not spend the next test's, nor a later run's when the Redis outlives the run.
ADDRESS_BUDGETS = ("livequiz:ip:*", "livequiz:rl:*")


def sync_client(url: str) -> redis.Redis | redis.RedisCluster:
    """A client of `url`; on a cluster its `scan_iter` walks every master."""
    if not is_cluster_url(url):
        return redis.Redis.from_url(url)
    seeds = [redis.cluster.ClusterNode(host, port) for host, port in cluster_seeds(url)]  # type: ignore[no-untyped-call]
    return redis.RedisCluster(startup_nodes=seeds)


def forget(client: redis.Redis, patterns: tuple[str, ...]) -> None:
    """Delete the keys matching `patterns` on one server, and close the client. A cluster's
    replica: nothing (its master does it)."""
    try:
        if client.execute_command("ROLE")[0] != b"master":  # type: ignore[no-untyped-call]
            return
        for pattern in patterns:
            with client.pipeline(transaction=False) as pipe:
                for key in client.scan_iter(pattern, count=1000):
                    pipe.delete(key)  # one by one: a cluster refuses keys of several slots
                pipe.execute()
    finally:
        client.close()


def forget_on_cluster(cluster: LocalCluster, patterns: tuple[str, ...] = ADDRESS_BUDGETS) -> None:
    """`forget` on every live master of `cluster` (each holds its own slots' keys)."""
    for node in cluster.nodes:
        if node.alive():
            forget(node.client(), patterns)
