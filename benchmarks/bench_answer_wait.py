"""What `LIVEQUIZ_ANSWER_REPLICAS=1` costs an answer: its acknowledgement latency on a Redis
Cluster, with and without `WAIT 1` after each answer batch (`store.batcher.ReplicaWait`).

`python -m benchmarks.bench_answer_wait --answers 500 --rounds 5` starts a local cluster (3
masters, 3 replicas, loopback: `tests/cluster_support.py`) unless `--url redis+cluster://...`
names one, opens one question, and records answers through `GameStore.answer_soon` as the
server does: one at a time (each its own batch: the latency a lone player's ack waits), then
100 at once (one batch: a burst). Both modes alternate in rounds; the medians of the rounds
are printed in µs. On loopback WAIT adds the replica's round trip; across machines, add the
network's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gameserver.redis_client import close_redis, open_redis
from gameserver.store import GameStore
from gameserver.store.batcher import ReplicaWait
from tests.integration.test_answer_replicas import running_question

BURST = 100


async def one_round(url: str, wait: ReplicaWait | None, answers: int) -> tuple[float, float]:
    """(µs per lone answer, µs per burst of BURST answers), medians within the round."""
    client = open_redis(url, 16)
    try:
        store = GameStore(client, game_ttl_s=600, results_ttl_s=600, replica_wait=wait)
        pin = await running_question(store, 0)
        lone: list[float] = []
        for i in range(answers):
            started = time.perf_counter()
            await store.answer_soon(pin, f"l{i}", 0, 1, 5_100)
            lone.append(time.perf_counter() - started)
        bursts: list[float] = []
        for b in range(max(1, answers // BURST)):
            started = time.perf_counter()
            await asyncio.gather(*(store.answer_soon(pin, f"b{b}-{i}", 0, 1, 5_100) for i in range(BURST)))
            bursts.append(time.perf_counter() - started)
        return statistics.median(lone) * 1e6, statistics.median(bursts) * 1e6
    finally:
        await close_redis(client)


async def run(url: str, answers: int, rounds: int) -> None:
    modes: dict[str, ReplicaWait | None] = {"no WAIT": None, "WAIT 1": ReplicaWait(1, 1_000)}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
    for number in range(rounds):  # alternated, each first in every other round
        order = list(modes.items()) if number % 2 == 0 else list(reversed(modes.items()))
        for name, wait in order:
            figures[name].append(await one_round(url, wait, answers))
    for name, results in figures.items():
        lone = statistics.median(r[0] for r in results)
        burst = statistics.median(r[1] for r in results)
        print(f"{name:8s} lone answer ack {lone:7.0f} µs   burst of {BURST} acks {burst:7.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="", help="redis+cluster://host:port,... (default: a local cluster)")
    parser.add_argument("--answers", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url, args.answers, args.rounds))
        return
    from tests.cluster_support import LocalCluster

    with LocalCluster(Path(tempfile.mkdtemp(prefix="bench-cluster-"))) as cluster:
        asyncio.run(run(cluster.url, args.answers, args.rounds))


if __name__ == "__main__":
    main()
