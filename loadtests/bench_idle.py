"""Scenario: an attack of idle and slow connections, and an honest client beside it.

One address (127.0.0.1) opens `--idle` TCP connections that send nothing and `--slow` that
send their headers at one byte a second; another address (127.0.0.2, also loopback) plays an
honest client every `--every` seconds: `GET /healthz`, `POST /api/games`, a WebSocket join.
The server runs with a room of `--room` connections (`LIVEQUIZ_MAX_CONNECTIONS`), so that the
attack could fill it, and with the defaults of the per-address cap and the header timeout.
Reported: the honest client's slowest round and its failures, and how many of the attacker's
connections the server refused (429), dropped (header timeout) or still held at the end.

A few thousand connections show the mechanism (each limit is per address and per time); the
19,700 of the original report only fill a bigger room the same way. Bounded: loopback only,
`--seconds` of attack, everything closed at the end.

    python -m loadtests.bench_idle --idle 2000 --slow 200 --room 1500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from gameserver.embedded_redis import EmbeddedRedis
from loadtests.bench_fairness import serve_process

ATTACKER, HONEST = "127.0.0.1", "127.0.0.2"


async def _hold(port: int, slow: bool, stop: asyncio.Event, tally: dict[str, int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    except OSError:
        tally["connect_failed"] += 1
        return
    tally["opened"] += 1
    answer = asyncio.create_task(reader.read())
    request = iter(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" if slow else b"")
    while not stop.is_set() and not answer.done():
        byte = next(request, None)
        if byte is not None:
            writer.write(bytes([byte]))
        await asyncio.wait([answer], timeout=1.0)
    if answer.done() and not answer.cancelled() and answer.exception() is None:
        tally["refused_429" if answer.result().startswith(b"HTTP/1.1 429") else "dropped"] += 1
    else:
        tally["held_to_the_end"] += 1
        answer.cancel()
    writer.close()


async def _honest_round(port: int) -> float:
    started = time.monotonic()
    transport = httpx.AsyncHTTPTransport(local_address=HONEST)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=10) as http:
        (await http.get("/healthz")).raise_for_status()
        created = await http.post("/api/games", json={
            "title": "t", "questions": [{"text": "q", "options": ["a", "b"], "correct": 0, "time_limit": 10}]})
        created.raise_for_status()
    pin = created.json()["pin"]
    url = f"ws://127.0.0.1:{port}/ws/play/{pin}"
    async with websockets.connect(url, local_addr=(HONEST, 0), open_timeout=10) as ws:
        await ws.send(orjson.dumps({"type": "join", "name": "Honest"}).decode())
        if orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "joined":
            raise RuntimeError("not joined")
    return time.monotonic() - started


async def _run(port: int, idle: int, slow: int, seconds: float, every: float) -> dict[str, Any]:
    stop = asyncio.Event()
    tally = {"opened": 0, "connect_failed": 0, "refused_429": 0, "dropped": 0, "held_to_the_end": 0}
    holders = [asyncio.create_task(_hold(port, i < slow, stop, tally)) for i in range(idle + slow)]
    await asyncio.sleep(1.0)  # the attack is in place
    rounds: list[float] = []
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            rounds.append(await _honest_round(port))
        except Exception as error:
            failures.append(type(error).__name__ + ": " + str(error)[:80])
        await asyncio.sleep(every)
    stop.set()
    await asyncio.gather(*holders)
    return {
        "honest_rounds": len(rounds), "honest_slowest_s": round(max(rounds), 3) if rounds else None,
        "honest_failures": failures[:5], "honest_failed": len(failures), "attacker": tally,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--room", type=int, default=1500, help="LIVEQUIZ_MAX_CONNECTIONS of the server")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=0.5)
    args = parser.parse_args(argv)
    # The defaults of the cap per address (1,000) and the header timeout (5 s); 127.0.0.1 is a
    # client here, not a proxy.
    env = {"LIVEQUIZ_MAX_CONNECTIONS": str(args.room), "LIVEQUIZ_TRUSTED_PROXIES": "",
           "LIVEQUIZ_MAX_CONNECTIONS_PER_IP": "1000"}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "valkey", appendonly=False) as valkey:
        process, port = serve_process(valkey.url, Path(tmp) / "server", env)
        try:
            result = asyncio.run(_run(port, args.idle, args.slow, args.seconds, args.every))
            print(orjson.dumps(result).decode(), flush=True)
        finally:
            process.terminate()
            process.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
