"""How many connections a process takes: its open-files limit is raised at start-up, and the
connections beyond its limit are refused whole (HTTP 503) while the others play on."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus

from gameserver.openfiles import RESERVED_FILES, connection_limit
from tests.support import Client, create_game, host, player, start_server


def test_connection_limit_keeps_files_for_the_process() -> None:
    assert connection_limit(0, files=20_000) == 20_000 - RESERVED_FILES
    assert connection_limit(500, files=20_000) == 500
    assert connection_limit(50_000, files=20_000) == 20_000 - RESERVED_FILES  # files win
    assert connection_limit(0, files=RESERVED_FILES - 10) == 1


def test_raise_lifts_the_soft_limit_to_the_hard_one() -> None:
    # In a child: the test process keeps its own limits.
    script = (
        "import resource\n"
        "from gameserver.openfiles import raise_open_files_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "before, after = raise_open_files_limit()\n"
        "print(before, after, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before, after, soft_now, hard = map(int, out.split())
    assert before == 64
    assert after == soft_now == hard


@pytest.mark.slow
async def test_serve_started_with_a_low_soft_limit_seats_players_past_it(tmp_path: Path, redis_url: str) -> None:
    """A login shell gives 1,024 open files; the server used to fail every connect past that
    (reset, nothing logged). Started with 300 here, it must seat 400 players; with room for
    fewer than a full game it says so at start."""
    server = start_server(
        tmp_path, redis_url, {"LIVEQUIZ_MAX_CONNECTIONS": "450"}, soft_open_files=300, log_level="info"
    )
    try:
        soft, hard = resource.prlimit(server.process.pid, resource.RLIMIT_NOFILE)
        assert soft == hard > 300
        game = await create_game(server.base_url)
        gate = asyncio.Semaphore(50)

        async def seat(i: int) -> Client:
            async with gate:
                client, joined = await player(server.ws_url, game["pin"], f"P{i}")
                assert joined["player_id"]
                return client

        clients = await asyncio.gather(*(seat(i) for i in range(400)))
        await asyncio.gather(*(client.close() for client in clients))
        log = server.log_path.read_text()
        assert f"open files: {hard}; this process takes up to 450 connections" in log
        assert "a full game (10000 players and a host) needs more connections than this process takes (450)" in log
    finally:
        server.stop()


async def test_connections_past_the_limit_get_503_and_the_others_play_on(tmp_path: Path, redis_url: str) -> None:
    server = start_server(tmp_path, redis_url, {"LIVEQUIZ_MAX_CONNECTIONS": "3"})
    try:
        game = await create_game(server.base_url)
        pin = game["pin"]
        hosting = await host(server.ws_url, game)
        ann, _ = await player(server.ws_url, pin, "Ann")
        bob, bob_seat = await player(server.ws_url, pin, "Bob")

        with pytest.raises(InvalidStatus) as refused:
            await player(server.ws_url, pin, "Cat")
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "5"
        assert orjson.loads(refused.value.response.body)["error"]["code"] == "server_full"
        async with httpx.AsyncClient() as http:  # uvicorn's own check, on the same limit
            assert (await http.get(server.base_url + "/healthz")).status_code == 503

        # The three already in play on.
        await hosting.send({"type": "start"})
        question = await ann.recv("question")
        await bob.recv("question")
        await ann.send({"type": "answer", "question": question["question"], "option": 1})
        assert (await ann.recv("answer_ack"))["question"] == question["question"]

        # A connection closed frees its place: Bob comes back on a new socket. His leaving
        # closes the question (Ann, the only one connected, answered): wait for that reveal
        # first, so none is in flight while he resumes.
        await bob.close()
        await ann.recv("reveal")
        for _ in range(50):
            try:
                bob = await Client.connect(f"{server.ws_url}/ws/play/{pin}")
                break
            except InvalidStatus:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("no connection was accepted after one closed")
        await bob.send({"type": "resume", "token": bob_seat["token"]})
        assert (await bob.recv("joined"))["player_id"] == bob_seat["player_id"]
        assert (await bob.recv("reveal"))["question"] == question["question"]  # the current phase
        assert "refusing WebSocket connections" in server.log_path.read_text()
    finally:
        server.stop()
