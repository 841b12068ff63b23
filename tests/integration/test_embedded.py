"""With no Redis URL the server starts its own private Redis, AOF on, and stops it."""

from __future__ import annotations

import time

import httpx
import psutil

from tests.support import start_server


def valkey_children(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True) if "valkey" in p.name()]


def test_serve_without_redis_url_runs_a_private_redis(tmp_path) -> None:
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
