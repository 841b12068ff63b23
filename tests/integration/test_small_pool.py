"""Whole games through a server whose Redis pool is tiny (`LIVEQUIZ_REDIS_POOL_SIZE=2`).

150 players in 5 games join at once and answer two questions at once: every Redis call of a
burst waits for one of two connections (on one Redis one of them is the subscription's, so
the commands share the other). Nothing may be lost or refused: every answer acknowledged and
counted in its reveal, no `error` to anyone, every game finished with two answers each, and
the server never opened more than 2 connections (per node). Run on one Redis (a private one,
so the server's connections can be counted) and on the session's local cluster (2 per node,
at most 2 calls at once: `redis_client.QueueingRedisCluster`). With redis-py's plain pools,
which raise at once when their connections are taken, this test fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.cluster_support import LocalCluster
from tests.engine_support import forget_on_cluster
from tests.integration.test_cluster_pool import _connections_since, _masters, _newest_client_id
from tests.support import QUIET, Client, ServerProcess, create_game, host, player, quiz, start_server

POOL = 2
PLAYERS = 150
GAMES = 5  # of 30 players each
QUESTIONS = 2


@dataclass
class Engine:
    """A Redis shape to serve from, and a way to count the connections a server opened to it."""

    url: str
    probes: list[redis.Redis]
    marks: list[int]

    def connections(self) -> list[int]:
        """Per node: commands' connections opened since the mark (a cluster's sharded
        subscriptions are connections of their own, TYPE pubsub, not counted)."""
        return [_connections_since(probe, mark) for probe, mark in zip(self.probes, self.marks, strict=True)]


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.slow)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "redis":
        url = str(request.getfixturevalue("private_redis_url"))  # only this test's server uses it
        probes = [redis.Redis.from_url(url)]
    else:
        cluster: LocalCluster = request.getfixturevalue("local_cluster")
        forget_on_cluster(cluster)
        url = cluster.url
        probes = _masters(cluster)
    try:
        yield Engine(url, probes, [_newest_client_id(probe) for probe in probes])
    finally:
        for probe in probes:
            probe.close()


@pytest.fixture
def small_pool_server(tmp_path: Path, engine: Engine) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "server", engine.url, {"LIVEQUIZ_REDIS_POOL_SIZE": str(POOL)})
    yield server
    server.stop()


def _pooled_connections(engine: Engine) -> list[int]:
    """On one Redis the subscription is a pooled connection too: count every client."""
    if len(engine.probes) > 1:
        return engine.connections()
    probe = engine.probes[0]
    listed = probe.execute_command("CLIENT", "LIST")  # type: ignore[no-untyped-call]
    text = listed.decode() if isinstance(listed, bytes) else str(listed)
    return [len(text.splitlines()) - 1]  # but this probe's own


@dataclass
class Game:
    pin: str
    host: Client
    players: list[Client]


async def _open_game(server: ServerProcess, players: int) -> Game:
    game = await create_game(server.base_url, quiz(n=QUESTIONS, time_limit=60))
    the_host = await host(server.ws_url, game)
    joined = await asyncio.gather(*(player(server.ws_url, game["pin"], f"P{i:03d}") for i in range(players)))
    return Game(game["pin"], the_host, [client for client, _ in joined])


#: What a socket may get between the messages a test waits for (a late lobby flush among them).
NOISE = (*QUIET, "leaderboard")


async def _play_question(games: list[Game], question: int) -> None:
    """Every player of every game answers in one burst; each game's reveal counts them all."""
    players = [c for game in games for c in game.players]
    shown = await asyncio.gather(*(c.recv("question", skip=NOISE) for c in players))
    assert all(q["question"] == question for q in shown)
    await asyncio.gather(*(g.host.recv("question", skip=NOISE) for g in games))
    # Every frame written before any acknowledgement is read.
    await asyncio.gather(*(c.send({"type": "answer", "question": question, "option": i % 4})
                           for game in games for i, c in enumerate(game.players)))
    acks = await asyncio.gather(*(c.recv("answer_ack", timeout=30) for c in players))
    refused = [a for a in acks if not (a["accepted"] and a["question"] == question)]
    assert refused == [], f"{len(refused)} of {len(players)} answers refused: {refused[:3]}"
    for game in games:
        reveal = await game.host.recv("reveal", timeout=30)
        n = len(game.players)
        assert reveal["distribution"] == [n // 4 + (k < n % 4) for k in range(4)], (game.pin, reveal)
    reveals = await asyncio.gather(*(c.recv("reveal", timeout=30) for c in players))
    assert all(r["you"]["answered"] for r in reveals)
    await asyncio.gather(*(g.host.recv("leaderboard") for g in games))


async def test_a_crowd_plays_through_a_pool_of_two_connections(
    small_pool_server: ServerProcess, engine: Engine,
) -> None:
    server = small_pool_server
    games: list[Game] = []
    try:
        # Several games at once, as the pool is sized for: each game's answers are one
        # batch (one pipeline), so a single game would hardly need a second connection.
        games = list(await asyncio.gather(*(_open_game(server, PLAYERS // GAMES) for _ in range(GAMES))))
        await asyncio.gather(*(g.host.send({"type": "start"}) for g in games))
        for question in range(QUESTIONS):
            await _play_question(games, question)
            await asyncio.gather(*(g.host.send({"type": "next"}) for g in games))
        players = [c for game in games for c in game.players]
        finished = await asyncio.gather(*(c.recv("finished", skip=NOISE, timeout=30) for c in players))
        assert all(f["you"]["answers"] == QUESTIONS for f in finished)
        for game in games:
            results = (await game.host.recv("finished", skip=NOISE, timeout=30))["results"]
            assert len(results) == len(game.players) and all(row["answers"] == QUESTIONS for row in results)
        errors = [m for g in games for c in (g.host, *g.players) for m in c.received if m.get("type") == "error"]
        assert errors == [], f"{len(errors)} errors, e.g. {errors[:3]}"
        # The games really went through the small pool: never more connections than it holds.
        connections = _pooled_connections(engine)
        assert all(1 <= count <= POOL for count in connections), f"connections per node: {connections}"
    finally:
        everyone = [c for g in games for c in (g.host, *g.players)]
        await asyncio.gather(*(c.close() for c in everyone), return_exceptions=True)
    assert "Traceback" not in server.log_path.read_text()
