"""What clients see when Redis loses a game or goes away (issue 15 items 6 and 11). Each test
runs its own Redis (these tests flush, kill and restart it) and real server processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import websockets
from redis.asyncio import Redis

from gameserver.embedded_redis import EmbeddedRedis
from gameserver.service import GameService
from gameserver.settings import Settings
from gameserver.store import GameStore
from statemachine import Next
from tests.support import Client, ServerProcess, create_game, host, player, quiz, start_server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", port=0, appendonly=True)
    server.port = _free_port()  # a fixed port, so that a restart comes back at the same address
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live(tmp_path: Path, own_redis: EmbeddedRedis) -> Iterator[ServerProcess]:
    process = start_server(tmp_path / "server", own_redis.url)
    yield process
    process.stop()


def _free_port() -> int:
    from tests.support import free_port

    return free_port()


async def test_after_flushall_sockets_are_told_the_game_is_gone_and_a_host_gets_4404(
    live: ServerProcess, own_redis: EmbeddedRedis
) -> None:
    game = await create_game(live.base_url, quiz(n=2))
    the_host = await host(live.ws_url, game)
    ada, ada_joined = await player(live.ws_url, game["pin"], "Ada")
    with redis.Redis.from_url(own_redis.url) as admin:  # closed here, not by the collector later
        admin.flushall()
    # A host coming back finds no game: unknown_game and 4404, not "wrong token" (4401); a
    # player resuming too. (Refused at the handshake if this process no longer remembers
    # the PIN, else at the first message.)
    for path, first in (("host", {"type": "host", "token": game["host_token"]}),
                        ("play", {"type": "resume", "token": ada_joined["token"]})):
        again = await Client.connect(f"{live.ws_url}/ws/{path}/{game['pin']}")
        with contextlib.suppress(websockets.ConnectionClosed):
            await again.send(first)
        assert await again.closed_with() == 4404, path
        assert [m["code"] for m in again.received if m.get("type") == "error"] in ([], ["unknown_game"])
    # The sockets already open are told, and closed 4404.
    for client in (the_host, ada):
        gone = await client.recv("error", timeout=8)
        assert gone["code"] == "unknown_game"
        assert await client.closed_with() == 4404


async def test_a_reveal_published_while_redis_was_down_still_reaches_every_socket(
    live: ServerProcess, own_redis: EmbeddedRedis
) -> None:
    """Redis dies 1.5 s into a 5 s question and is back (from its append-only file) after the
    deadline; a sweep scores the question before the server's subscription is back, so the
    reveal is published to no one. Every socket still gets the reveal and the leaderboard."""
    game = await create_game(live.base_url, quiz(n=2, time_limit=5))
    the_host = await host(live.ws_url, game)
    players = [await player(live.ws_url, game["pin"], name) for name in ("Ada", "Bob", "Cy")]
    clients = [client for client, _ in players]
    await asyncio.sleep(1.2)  # the game is in the append-only file (fsync every second)
    await the_host.send({"type": "start"})
    for client in clients:
        await client.recv("question")
    await clients[0].send({"type": "answer", "question": 0, "option": 0})
    await clients[0].recv("answer_ack")
    await asyncio.sleep(1.5)
    assert own_redis._process is not None
    own_redis._process.kill()  # SIGKILL: Redis is gone at once
    own_redis._process.wait()
    await asyncio.sleep(5.0)  # past the deadline
    own_redis._process = None
    own_redis.start()
    # Another process's sweep gets there first: it closes and scores the question at once,
    # while this server's subscription is still coming back.
    other = Redis.from_url(own_redis.url)
    try:  # closed on a failure too: else the collector warns in a later, innocent test
        sweeper = GameService(GameStore(other, game_ttl_s=600, results_ttl_s=900), Settings(close_grace_ms=100))
        await sweeper.advance(game["pin"])
    finally:
        await other.aclose()
    for client in [*clients, the_host]:
        reveal = await client.recv("reveal", timeout=15, skip=("lobby", "answer_count", "pong", "question"))
        assert reveal["question"] == 0
        assert (await client.recv("leaderboard", timeout=5))["question"] == 0
    # The game goes on: the host moves to the next question and everyone gets it.
    await the_host.send({"type": "next"})
    for client in clients:
        assert (await client.recv("question", skip=("lobby", "leaderboard")))["question"] == 1
    for client in [*clients, the_host]:
        await client.close()


async def test_a_reveal_published_while_the_subscription_was_cut_still_reaches_every_socket(
    live: ServerProcess, own_redis: EmbeddedRedis
) -> None:
    """The same loss without a Redis restart: the server's pub/sub connection is cut (as a
    network blip or a proxy would) and another process closes and scores the question before
    it is back."""
    game = await create_game(live.base_url, quiz(n=2, time_limit=30))
    the_host = await host(live.ws_url, game)
    clients = [(await player(live.ws_url, game["pin"], name))[0] for name in ("Ada", "Bob")]
    await the_host.send({"type": "start"})
    for client in clients:
        await client.recv("question")
    other = Redis.from_url(own_redis.url)
    try:  # closed on a failure too: else the collector warns in a later, innocent test
        sweeper = GameService(GameStore(other, game_ttl_s=600, results_ttl_s=900), Settings(close_grace_ms=100))
        # Cut the subscription and keep it from coming back (no new connection is let in) until
        # the question is closed and scored: its reveal is published to no one.
        connected = len(await other.client_list())
        async with other.pipeline(transaction=True) as pipe:
            pipe.config_set("maxclients", connected - 1)
            pipe.client_kill_filter(_type="pubsub")
            await pipe.execute()
        await sweeper.command(game["pin"], Next())  # closes and scores: the reveal goes out now
        await asyncio.sleep(0.3)
        await other.config_set("maxclients", 10_000)
    finally:
        await other.aclose()
    for client in [*clients, the_host]:
        reveal = await client.recv("reveal", timeout=10, skip=("lobby", "answer_count", "question"))
        assert reveal["question"] == 0
        assert (await client.recv("leaderboard", timeout=5))["question"] == 0
    await asyncio.sleep(1.5)  # caught up once: nothing is delivered twice
    for client in clients:
        await client.send({"type": "ping", "t": 0})
        await client.recv("pong")
        assert [m["type"] for m in client.received].count("reveal") == 1
    for client in [*clients, the_host]:
        await client.close()
