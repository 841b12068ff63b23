"""What clients see when Redis loses a game or goes away (issue 15 items 6 and 11). Each test
runs its own Redis (these tests flush, kill and restart it) and real server processes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import websockets

from gameserver.embedded_redis import EmbeddedRedis
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
    redis.Redis.from_url(own_redis.url).flushall()
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
