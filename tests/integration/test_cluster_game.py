"""The game engine on a real local Valkey Cluster (3 masters, 3 replicas: `tests/cluster_support.py`).

The single-Redis game tests are run again here against servers started with the cluster's
`redis+cluster://` URL: a whole game, 200 simultaneous answers, resume on another process,
two processes with one killed mid-question. Then a master is killed for real: the node that
owns a running game's slot, mid-question; its replica is promoted, no acknowledged answer is
lost and the game finishes with one reveal per question.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gameserver.keys import DueSets, GameKeys
from tests.cluster_support import LocalCluster
from tests.integration import test_full_game, test_multiprocess, test_rules
from tests.support import ServerProcess, create_game, host, player, quiz, start_server, two_servers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory: pytest.TempPathFactory, cluster_url: str) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("cluster-server"), cluster_url)
    yield process
    process.stop()


@pytest.fixture
def cluster_server_pair(tmp_path: Path, cluster_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with two_servers(tmp_path, cluster_url) as pair:
        yield pair


def test_the_fixture_is_a_cluster_of_three_masters_with_a_replica_each(local_cluster: LocalCluster) -> None:
    with local_cluster.nodes[0].client() as client:
        nodes = client.execute_command("CLUSTER", "NODES").decode().splitlines()
    roles = sorted("master" if "master" in line.split()[2] else "slave" for line in nodes)
    assert roles == ["master"] * 3 + ["slave"] * 3


async def test_whole_game_on_the_cluster(cluster_server: ServerProcess) -> None:
    await test_full_game.test_whole_game_three_players(cluster_server)


async def test_two_hundred_simultaneous_answers_on_the_cluster(cluster_server: ServerProcess) -> None:
    await test_rules.test_two_hundred_simultaneous_answers(cluster_server)


async def test_resume_on_another_process_on_the_cluster(
    cluster_server_pair: tuple[ServerProcess, ServerProcess],
) -> None:
    await test_multiprocess.test_resume_on_another_process_keeps_identity_score_and_answer(cluster_server_pair)


async def test_two_processes_one_killed_mid_question_on_the_cluster(
    cluster_server_pair: tuple[ServerProcess, ServerProcess],
) -> None:
    doomed, other = cluster_server_pair
    await test_multiprocess.test_game_plays_across_two_processes_and_survives_kill_9(doomed, other)


async def test_games_deadlines_are_spread_over_the_due_shards(cluster_server: ServerProcess, cluster_url: str,
                                                              local_cluster: LocalCluster) -> None:
    """A running question's PIN is in its own due shard, and the shards live on several nodes."""
    game = await create_game(cluster_server.base_url, quiz(n=1, time_limit=30))
    the_host = await host(cluster_server.ws_url, game)
    await the_host.send({"type": "start"})
    await the_host.recv("question")
    shards = DueSets("livequiz:due", 16)
    key = shards.key_for(game["pin"])
    with local_cluster.master_of(key).client() as client:
        assert client.zscore(key, game["pin"]) is not None
    assert len({local_cluster.master_of(k).port for k in shards.keys}) == 3
    await the_host.close()


@pytest.mark.parametrize("closed_by", ["last_answer", "deadline"])
async def test_the_master_of_a_running_games_slot_killed_mid_question(tmp_path: Path, closed_by: str) -> None:
    """SIGKILL the master that owns a game's slot while a question runs: its replica is
    promoted, every answer acknowledged before the kill is in the reveal, the game finishes and
    every socket got exactly one reveal per question (what pub/sub lost was caught up). The
    question then closes when its last player answers on the promoted master, or at its
    deadline, which passes while the slot has no master (the master is killed 1 s before it,
    and a failover takes ~3 s)."""
    with LocalCluster(tmp_path / "cluster") as cluster:
        server = start_server(tmp_path / "server", cluster.url)
        try:
            await _play_through_a_failover(server, cluster, closed_by)
        finally:
            server.stop()


async def _play_through_a_failover(server: ServerProcess, cluster: LocalCluster, closed_by: str) -> None:
    body = quiz(n=3, time_limit=6)
    game = await create_game(server.base_url, body)
    pin = game["pin"]
    the_host = await host(server.ws_url, game)
    players = [await player(server.ws_url, pin, f"P{i}") for i in range(6)]
    clients = [client for client, _ in players]
    await the_host.send({"type": "start"})
    for question in range(3):
        shown = await asyncio.gather(*(c.recv("question", skip=("leaderboard", "lobby")) for c in clients))
        # Question 1: one player has not answered yet when the game's master dies, so the
        # question is still open (it closes early once every connected player has answered).
        first = clients[:-1] if question == 1 else clients
        await asyncio.gather(*(c.send({"type": "answer", "question": question, "option": question % 4})
                               for c in first))
        acks = await asyncio.gather(*(c.recv("answer_ack") for c in first))
        assert all(a["accepted"] for a in acks)
        if question == 1:
            if closed_by == "deadline":
                await asyncio.sleep((shown[0]["deadline"] - 1_000) / 1000 - time.time())
            owner = cluster.master_of(GameKeys(pin).meta)
            owner.kill()  # every answer above was acknowledged by this node
            await asyncio.to_thread(_wait_promoted, cluster, GameKeys(pin).meta, owner.port)
            if closed_by == "last_answer":
                await clients[-1].send({"type": "answer", "question": 1, "option": 1})
                assert (await clients[-1].recv("answer_ack"))["accepted"]
        reveals = await asyncio.gather(*(c.recv("reveal", timeout=30) for c in clients))
        assert all(r["question"] == question for r in reveals)
        answered = reveals[:-1] if question == 1 and closed_by == "deadline" else reveals
        assert all(r["you"]["answered"] and r["you"]["correct"] for r in answered)
        assert len(answered) == len(reveals) or not reveals[-1]["you"]["answered"]
        noise = ("lobby", "answer_count", "question", "leaderboard")
        host_reveal = await the_host.recv("reveal", timeout=30, skip=noise)
        assert host_reveal["question"] == question
        await the_host.send({"type": "next"})
    finished = await asyncio.gather(*(c.recv("finished", skip=("leaderboard", "lobby")) for c in clients))
    assert [f["you"]["answers"] for f in finished] == [3] * 5 + [2 if closed_by == "deadline" else 3]
    for client in clients:
        assert [m["question"] for m in client.received if m["type"] == "reveal"] == [0, 1, 2]
    await asyncio.gather(*(c.close() for c in clients), the_host.close())


def _wait_promoted(cluster: LocalCluster, key: str, dead_port: int) -> None:
    """Until a live node other than the dead one serves `key`'s slot (a replica promoted)."""
    until = time.monotonic() + 30
    while time.monotonic() < until:
        try:
            if cluster.master_of(key).port != dead_port:
                cluster.wait_ok()
                return
        except (RuntimeError, redis.RedisError):
            pass
        time.sleep(0.1)
    raise AssertionError("no replica took over the slot")
