"""A running game's slot migrated to another master mid-question, with the cluster's own
commands (`LocalCluster.migrate_slot`: SETSLOT IMPORTING/MIGRATING, MIGRATE key by key,
SETSLOT NODE), while its players answer.

During the move the game's scripts meet TRYAGAIN (their keys split between the two nodes)
and ASK (every key moved, the slot still the old owner's); the server's calls wait that out
(`redis_client.QueueingRedisCluster`). What the game published on the new owner before the
slot was handed over never reached the process's subscription, still on the old owner: when
the old owner gives the slot away it sends `sunsubscribe`, the process subscribes on the new
one and catches up (`sharded_pubsub.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gameserver.keys import GameKeys
from tests.cluster_support import ClusterNode, LocalCluster
from tests.support import Client, ServerProcess, create_game, host, player, quiz, start_server

pytestmark = pytest.mark.slow

PLAYERS = 6


@pytest.fixture
def cluster_server(tmp_path: Path, cluster_url: str) -> Iterator[ServerProcess]:
    process = start_server(tmp_path / "server", cluster_url, log_level="info")  # the re-subscribe is logged
    yield process
    process.stop()


async def test_a_running_games_slot_migrates_mid_question(
    cluster_server: ServerProcess, local_cluster: LocalCluster,
) -> None:
    """No acknowledged answer is lost, every socket gets one reveal per question, the game
    finishes, and the process's subscription ends on the new owner of the slot."""
    server = cluster_server
    game = await create_game(server.base_url, quiz(n=3, time_limit=30))
    pin = game["pin"]
    keys = GameKeys(pin)
    the_host = await host(server.ws_url, game)
    clients = [client for client, _ in [await player(server.ws_url, pin, f"P{i}") for i in range(PLAYERS)]]
    await the_host.send({"type": "start"})
    source = local_cluster.master_of(keys.meta)
    target = next(node for node in local_cluster.serving_masters() if node is not source)
    asks_before, splits_before = _error_count(source, "ASK"), _error_count(source, "TRYAGAIN")
    for question in range(3):
        await asyncio.gather(*(c.recv("question", skip=("leaderboard", "lobby")) for c in clients))
        if question == 1:
            with source.client() as node:
                slot = int(node.execute_command("CLUSTER", "KEYSLOT", keys.meta))
            migration = asyncio.create_task(asyncio.to_thread(
                local_cluster.migrate_slot, slot, target, pause_s=0.1, ask_window_s=1.0))
            # The answers spread over the move: keys split (TRYAGAIN), then all moved (ASK).
            acks = await asyncio.gather(*(_answer_after(c, question, delay=0.25 * i) for i, c in enumerate(clients)))
            assert await migration > 5
        else:
            acks = await asyncio.gather(*(_answer_after(c, question, delay=0) for c in clients))
        assert all(ack["accepted"] for ack in acks), acks
        reveals = await asyncio.gather(*(c.recv("reveal", timeout=30) for c in clients))
        assert all(r["question"] == question and r["you"]["answered"] and r["you"]["correct"] for r in reveals)
        noise = ("lobby", "answer_count", "question", "leaderboard")
        host_reveal = await the_host.recv("reveal", timeout=30, skip=noise)
        assert host_reveal["question"] == question
        await the_host.send({"type": "next"})
    finished = await asyncio.gather(*(c.recv("finished", skip=("leaderboard", "lobby")) for c in clients))
    assert [f["you"]["answers"] for f in finished] == [3] * PLAYERS
    for client in [*clients, the_host]:
        assert [m["question"] for m in client.received if m["type"] == "reveal"] == [0, 1, 2]
    assert local_cluster.master_of(keys.meta) is target
    # The calls did meet both: keys split between the nodes, then all moved.
    assert _error_count(source, "TRYAGAIN") > splits_before
    assert _error_count(source, "ASK") > asks_before
    # The subscription followed the slot (the old owner's sunsubscribe, then the new owner),
    # and the hub was told to catch up: the old owner no longer carries the channel.
    assert "re-subscribed 1 game channel(s)" in server.log_path.read_text(errors="replace")
    assert _subscribers(target, keys.channel) == 1
    assert _subscribers(source, keys.channel) == 0
    await asyncio.gather(*(c.close() for c in clients), the_host.close())


async def _answer_after(client: Client, question: int, *, delay: float) -> dict[str, object]:
    await asyncio.sleep(delay)
    await client.send({"type": "answer", "question": question, "option": question % 4})
    return await client.recv("answer_ack", timeout=20)


def _error_count(node: ClusterNode, prefix: str) -> int:
    """How many `-<prefix>` error replies the node has sent (INFO errorstats)."""
    with node.client() as client:
        stats = client.info("errorstats")
    entry = stats.get(f"errorstat_{prefix}", {})
    return int(entry.get("count", 0)) if isinstance(entry, dict) else 0


def _subscribers(node: ClusterNode, channel: str) -> int:
    with node.client() as client:
        try:
            reply = client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        except redis.ResponseError:  # MOVED: the node no longer serves the channel's slot
            return 0
    return int(reply[1])
