"""Benchmark: can one client move another client's receive stamp? (issue: ping floods)

A served process (`livequiz serve` on a private Valkey) plays a game with `--victims` players.
For each of `--questions` questions every victim answers once, at staggered moments over the
answer window; meanwhile one attacker floods WebSocket ping frames as fast as loopback takes
them, reconnecting whenever it is closed (each connection sends at most `--frames`). An
answer's error is the server's receive stamp (read back from Redis, as scoring uses it) minus
the moment the victim sent it (same clock: loopback, one machine). Reported: p50/p99/max of
that error with and without the attacker, and what the attacker got through.

Bounded: 127.0.0.1 only, a few seconds per question, everything stopped at the end.

    python -m loadtests.bench_fairness --victims 50 --questions 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
from redis.asyncio import Redis

from gameserver.embedded_redis import EmbeddedRedis
from gameserver.store import GameStore
from loadtests import rawws

ANSWER_WINDOW_S = 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_process(
    redis_url: str, data_dir: Path, extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """`livequiz serve` on a free loopback port, per-address limits off (one client address)."""
    port = _free_port()
    env = dict(os.environ) | {
        "LIVEQUIZ_REDIS_URL": redis_url, "LIVEQUIZ_DATA_DIR": str(data_dir),
        "LIVEQUIZ_IP_JOIN_LIMIT": "0", "LIVEQUIZ_IP_CREATE_LIMIT": "0", "LIVEQUIZ_IP_LOOKUP_MISS_LIMIT": "0",
        "LIVEQUIZ_MAX_CONNECTIONS_PER_IP": "0",
    } | (extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "gameserver.cli", "serve", "--port", str(port), "--log-level", "error"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


async def _attack(port: int, pin: str, frames: int, stop: asyncio.Event, tally: dict[str, int]) -> None:
    data = rawws.pings(frames)
    while not stop.is_set():
        try:
            reader, writer = await rawws.connect(port, f"/ws/play/{pin}")
        except (OSError, ConnectionError):
            tally["refused"] += 1
            await asyncio.sleep(0.01)
            continue
        tally["connections"] += 1
        closing = asyncio.create_task(rawws.close_code(reader))
        try:
            for offset in range(0, len(data), 65536):
                if stop.is_set() or closing.done():
                    break
                writer.write(data[offset:offset + 65536])
                await writer.drain()
                tally["bytes"] += min(65536, len(data) - offset)
        except (OSError, ConnectionError):
            pass
        writer.close()
        code, pongs = await closing if closing.done() else (None, 0)
        if not closing.done():
            closing.cancel()
        tally["pongs"] += pongs
        tally["closed_1008"] += code == 1008


async def _recv(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == kind:
            return dict(message)


async def _answer(ws: Any, question: int, after_s: float, sent: dict[str, int], player_id: str) -> None:
    await asyncio.sleep(after_s)
    sent[player_id] = time.time_ns() // 1_000_000  # the receive stamp should be this, give or take
    await ws.send(orjson.dumps({"type": "answer", "question": question, "option": 0}).decode())
    await _recv(ws, "answer_ack")


async def _play(port: int, redis_url: str, victims: int, questions: int, frames: int, attack: bool) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    quiz = {"title": "bench", "questions": [
        {"text": f"q{i}", "options": ["a", "b"], "correct": 0, "time_limit": 30} for i in range(questions)]}
    async with httpx.AsyncClient() as http:
        game = (await http.post(f"{base}/api/games", json=quiz)).json()
    pin = game["pin"]
    host = await websockets.connect(f"ws://127.0.0.1:{port}/ws/host/{pin}")
    await host.send(orjson.dumps({"type": "host", "token": game["host_token"]}).decode())
    await _recv(host, "hosting")
    players = []
    for i in range(victims):
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/play/{pin}")
        await ws.send(orjson.dumps({"type": "join", "name": f"V{i}"}).decode())
        joined = await _recv(ws, "joined")
        players.append((ws, joined["player_id"]))
    store = GameStore(Redis.from_url(redis_url), game_ttl_s=600, results_ttl_s=600)
    errors: list[int] = []
    tally = {"connections": 0, "refused": 0, "bytes": 0, "pongs": 0, "closed_1008": 0}
    for q in range(questions):
        await host.send(orjson.dumps({"type": "start" if q == 0 else "next"}).decode())
        for ws, _ in players:
            await _recv(ws, "question")
        stop = asyncio.Event()
        attacker = asyncio.create_task(_attack(port, pin, frames, stop, tally)) if attack else None
        await asyncio.sleep(0.2)  # the flood is under way
        sent: dict[str, int] = {}
        await asyncio.gather(*(
            _answer(ws, q, ANSWER_WINDOW_S * i / victims, sent, pid) for i, (ws, pid) in enumerate(players)
        ))
        stop.set()
        if attacker is not None:
            await attacker
        recorded = await store.answers(pin, q)
        errors.extend(recorded[pid].received_ms - sent[pid] for pid in sent if pid in recorded)
        for ws, _ in players:
            await _recv(ws, "reveal")
    for ws, _ in players:
        await ws.close()
    await host.close()
    await store.redis.aclose()
    errors.sort()
    return {
        "answers": len(errors), "p50_ms": statistics.median(errors), "p99_ms": errors[int(0.99 * (len(errors) - 1))],
        "max_ms": errors[-1], "attacker": tally if attack else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--victims", type=int, default=50)
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1_000_000, help="ping frames per attacker connection")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "valkey", appendonly=False) as valkey:
        process, port = serve_process(valkey.url, Path(tmp) / "server")
        try:
            for attack in (False, True):
                result = asyncio.run(_play(port, valkey.url, args.victims, args.questions, args.frames, attack))
                label = "one attacker flooding pings" if attack else "no attacker"
                print(f"{label}: {orjson.dumps(result).decode()}", flush=True)
        finally:
            process.terminate()
            process.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
