"""How soon a Speaking room hears that the master of its slot died, on a Redis Cluster.

`python -m benchmarks.bench_speaking_failover --runs 5` starts, per run, a local cluster (3
masters, 3 replicas, `cluster-node-timeout` 1.5 s: `tests/cluster_support.py`), subscribes a
room's channel as a socket does (`speaking_channel.subscribe`), kills (SIGKILL) the master that
owns the room's slot, and times until the subscription ends with `SubscriptionLost` (the room
then closes its sockets with "try again"), and until the slot takes a publication again. Each
run's figures and the median are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from gameserver.platform import speaking_channel
from gameserver.platform.speaking_channel import SubscriptionLost
from gameserver.redis_client import close_redis, open_redis
from tests.cluster_support import LocalCluster
from tests.integration.test_speaking_failover import publish_once_served, wait_replicas_in_sync


async def one_run(data_dir: Path) -> tuple[float, float]:
    """(seconds until the room is told, seconds until its slot is served again)."""
    with LocalCluster(data_dir) as cluster:
        wait_replicas_in_sync(cluster)
        channel = f"livequiz:speaking:{{{secrets.randbelow(10**9)}-1}}:channel"
        client = open_redis(cluster.url, 8)
        try:
            subscription = await speaking_channel.subscribe(client, channel)
            messages = subscription.messages()
            cluster.master_of(channel).kill()
            killed = time.monotonic()
            try:
                await asyncio.wait_for(anext(messages), 60)
                raise RuntimeError("a message came instead of the loss")
            except SubscriptionLost:
                told = time.monotonic() - killed
            await subscription.close()
            await publish_once_served(client, channel, b"after")
            return told, time.monotonic() - killed
        finally:
            await close_redis(client)


async def main(runs: int) -> None:
    told: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            seconds, served = await one_run(Path(tmp) / f"run{run}")
            told.append(seconds)
            print(f"run {run + 1}: room told {seconds:.2f} s after the kill, slot served again {served:.2f} s")
    print(f"median: room told {statistics.median(told):.2f} s after the kill ({runs} runs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
