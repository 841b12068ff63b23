"""What the Redis nodes of a run spent, from their own `INFO`: CPU, commands, network bytes.

`snapshot(url)` reads every node once (one Redis for `redis://` or `unix://`; every node that
`CLUSTER NODES` lists for `redis+cluster://`, masters and replicas); `delta(before, after)`
turns two snapshots into per-node figures and totals. CPU is `used_cpu_sys + used_cpu_user`
(the whole server process, its background threads included); commands are `INFO commandstats`
calls, which count the commands a Lua script runs with `redis.call` as well as the script's
own `EVALSHA`; bytes are `total_net_input_bytes` / `total_net_output_bytes` (clients) and
`total_net_repl_output_bytes` (to replicas).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import redis


@dataclass(frozen=True)
class NodeStats:
    role: str  # "master" or "slave", as INFO says
    cpu_s: float
    calls: dict[str, int]
    net_in: int
    net_out: int
    repl_out: int


def _clients(url: str) -> dict[str, redis.Redis]:
    if "+cluster://" not in url:
        return {url: redis.Redis.from_url(url, socket_timeout=5)}
    seeds = urlsplit(url.replace("+cluster", "", 1)).netloc.rsplit("@", 1)[-1].split(",")
    host, _, port = seeds[0].rpartition(":")
    with redis.Redis(host=host, port=int(port), socket_timeout=5) as seed:
        raw = seed.execute_command("CLUSTER", "NODES")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    out: dict[str, redis.Redis] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or "fail" in parts[2].split(","):
            continue
        address = parts[1].split("@", 1)[0]
        node_host, _, node_port = address.rpartition(":")
        out[address] = redis.Redis(host=node_host, port=int(node_port), socket_timeout=5)
    return out


def snapshot(url: str) -> dict[str, NodeStats]:
    stats: dict[str, NodeStats] = {}
    for address, client in _clients(url).items():
        with client:
            info = cast(dict[str, Any], client.info("everything"))
        calls = {
            key.removeprefix("cmdstat_"): int(value["calls"])
            for key, value in info.items()
            if key.startswith("cmdstat_") and isinstance(value, dict)
        }
        stats[address] = NodeStats(
            role=str(info.get("role")),
            cpu_s=float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            calls=calls,
            net_in=int(info.get("total_net_input_bytes", 0)),
            net_out=int(info.get("total_net_output_bytes", 0)),
            repl_out=int(info.get("total_net_repl_output_bytes", 0)),
        )
    return stats


def delta(before: dict[str, NodeStats], after: dict[str, NodeStats]) -> dict[str, Any]:
    """Per node and in total, what happened between two snapshots (nodes in both only);
    `commands` counts the masters' calls by command."""
    nodes: dict[str, Any] = {}
    commands: dict[str, int] = {}
    for address in sorted(set(before) & set(after)):
        b, a = before[address], after[address]
        calls = {cmd: n - b.calls.get(cmd, 0) for cmd, n in a.calls.items() if n - b.calls.get(cmd, 0) > 0}
        nodes[address] = {
            "role": a.role,
            "cpu_s": round(a.cpu_s - b.cpu_s, 3),
            "commands": sum(calls.values()),
            "net_in_bytes": a.net_in - b.net_in,
            "net_out_bytes": a.net_out - b.net_out,
            "repl_out_bytes": a.repl_out - b.repl_out,
        }
        if a.role == "master":  # a replica's count is the master's writes again
            for cmd, n in calls.items():
                commands[cmd] = commands.get(cmd, 0) + n
    masters = [n for n in nodes.values() if n["role"] == "master"]
    replicas = [n for n in nodes.values() if n["role"] != "master"]
    return {
        "nodes": nodes,
        "master_cpu_s": round(sum(n["cpu_s"] for n in masters), 3),
        "replica_cpu_s": round(sum(n["cpu_s"] for n in replicas), 3),
        "busiest_master_cpu_s": round(max((n["cpu_s"] for n in masters), default=0.0), 3),
        "commands": dict(sorted(commands.items(), key=lambda kv: -kv[1])),
        "net_in_bytes": sum(n["net_in_bytes"] for n in nodes.values()),
        "net_out_bytes": sum(n["net_out_bytes"] for n in nodes.values()),
        "repl_out_bytes": sum(n["repl_out_bytes"] for n in nodes.values()),
    }
