"""The private Redis of `livequiz serve` (no LIVEQUIZ_REDIS_URL) is supervised: killed, it is
restarted on the same data directory (its AOF reloaded), the restart is logged, and the games
go on: the game made before the kill is still there, its players still play."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
import redis.asyncio

from tests.support import create_game, host, player, quiz, start_server


def private_redis(pid: int) -> psutil.Process:
    (found,) = [p for p in psutil.Process(pid).children(recursive=True) if "valkey" in p.name()]
    return found


async def wait_healthy(base_url: str, within_s: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        while time.monotonic() - started < within_s:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"not healthy within {within_s} s")


async def subscribers(socket: Path, channel: str) -> int:
    client = redis.asyncio.Redis(unix_socket_path=str(socket))
    try:
        return int(dict(await client.pubsub_numsub(channel)).get(channel.encode(), 0))
    finally:
        await client.aclose()


async def wait_subscribed(socket: Path, channel: str, processes: int, within_s: float = 10) -> None:
    client = redis.asyncio.Redis(unix_socket_path=str(socket))
    try:
        deadline = time.monotonic() + within_s
        while True:
            subscribers = dict(await client.pubsub_numsub(channel)).get(channel.encode(), 0)
            if subscribers >= processes:
                return
            assert time.monotonic() < deadline, f"{channel}: {subscribers} subscribers"
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_killed_private_redis_is_restarted_and_the_game_goes_on(tmp_path: Path, workers: int) -> None:
    server = start_server(tmp_path / "data", redis_url="", workers=workers, log_level="info")
    try:
        game = await create_game(server.base_url, quiz(n=2, time_limit=30))
        the_host = await host(server.ws_url, game)
        ann, _ = await player(server.ws_url, game["pin"], "Ann")
        await asyncio.sleep(1.5)  # the AOF is written every second: the game is on disk
        socket, channel = tmp_path / "data" / "redis" / "redis.sock", f"game:{{{game['pin']}}}:events"
        listening = await subscribers(socket, channel)  # the processes holding the game's sockets
        assert listening >= 1
        first = private_redis(server.process.pid)
        first_dir = first.cwd()  # Valkey runs in its --dir
        first.send_signal(signal.SIGKILL)
        recovered_s = await wait_healthy(server.base_url, within_s=10)
        second = private_redis(server.process.pid)
        assert second.pid != first.pid
        assert second.cwd() == first_dir == str((tmp_path / "data" / "redis").resolve()), "same data directory"
        log = server.log_path.read_text()
        for _ in range(50):  # the watcher may log "is back" a moment after the socket answers
            if "private Redis exited" in log and "private Redis is back" in log:
                break
            await asyncio.sleep(0.1)
            log = server.log_path.read_text()
        assert "private Redis exited" in log and "private Redis is back" in log, log[-3000:]
        # The game made before the kill is still there, and still plays.
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            info = await http.get(f"/api/games/{game['pin']}")
        assert info.status_code == 200 and info.json()["players"] == 1, info.text
        # Each process re-subscribes to its games' channels on its own (within ~1 s); an event
        # published before that is the subject of another fix (catching sockets up after a
        # reconnect), not of supervision: wait for it here.
        await wait_subscribed(socket, channel, listening)
        bo, _ = await player(server.ws_url, game["pin"], "Bo")
        await the_host.send({"type": "start"})
        for client in (ann, bo):
            question = await client.recv("question", timeout=15)
            await client.send({"type": "answer", "question": question["question"], "option": 0})
            await client.recv("answer_ack")
        reveal = await the_host.recv("reveal", timeout=15, skip=("lobby", "answer_count", "question"))
        assert sum(reveal["distribution"]) == 2
        print(f"recovered in {recovered_s:.2f} s")
        for client in (ann, bo, the_host):
            await client.close()
    finally:
        server.stop()
