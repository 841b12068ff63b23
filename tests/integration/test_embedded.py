"""With no Redis URL the server starts its own private Redis, AOF on, and stops it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil

from tests.support import start_server


def valkey_children(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True) if "valkey" in p.name()]


def test_serve_without_redis_url_runs_a_private_redis(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", redis_url="")
    try:
        children = valkey_children(server.process.pid)
        assert len(children) == 1, "exactly one private Redis"
        response = httpx.post(server.base_url + "/api/games", json={
            "title": "t", "questions": [{"text": "q", "options": ["a", "b"], "correct": 0, "time_limit": 10}]})
        assert response.status_code == 201
        redis_dir = tmp_path / "data" / "redis"
        assert any(redis_dir.glob("appendonlydir/*.aof")), "AOF is on under LIVEQUIZ_DATA_DIR"
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while children[0].is_running() and children[0].status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the private Redis outlived the server"
        time.sleep(0.1)


async def test_serve_with_two_workers_shares_one_private_redis(tmp_path: Path) -> None:
    from tests.support import create_game, host, player, quiz

    server = start_server(tmp_path / "data", redis_url="", workers=2)
    try:
        assert len(valkey_children(server.process.pid)) == 1, "one Redis for both workers"
        workers = [p for p in psutil.Process(server.process.pid).children(recursive=True) if "valkey" not in p.name()]
        assert len(workers) >= 2
        game = await create_game(server.base_url, quiz(n=1, time_limit=30))
        the_host = await host(server.ws_url, game)
        players = [await player(server.ws_url, game["pin"], f"P{i}") for i in range(6)]
        await the_host.send({"type": "start"})
        for client, _ in players:
            await client.recv("question")
            await client.send({"type": "answer", "question": 0, "option": 0})
            await client.recv("answer_ack")
        reveal = await the_host.recv("reveal", skip=("question", "lobby", "answer_count"))
        assert reveal["distribution"] == [6, 0, 0, 0]
        for client in [the_host, *(c for c, _ in players)]:
            await client.close()
    finally:
        server.stop()
