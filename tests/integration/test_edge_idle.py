"""Connections that hold a place without using it (idle, or headers at a byte a second) no
longer lock everyone out: one address holds at most LIVEQUIZ_MAX_CONNECTIONS_PER_IP (then 429
too_many_connections), a request's headers must arrive within LIVEQUIZ_HEADER_TIMEOUT_S, and an
honest client at another address is served within 2 s while the attack runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.support import quiz, start_server

# The header and body timeouts must fire on time, and the honest client be served within 2 s.
pytestmark = pytest.mark.alone

ATTACKER, HONEST = "127.0.0.1", "127.0.0.2"  # two addresses of the loopback network
SETTINGS = {
    "LIVEQUIZ_MAX_CONNECTIONS": "300",  # the process's room: the attack below would fill it
    "LIVEQUIZ_MAX_CONNECTIONS_PER_IP": "100",
    "LIVEQUIZ_HEADER_TIMEOUT_S": "2",
    "LIVEQUIZ_TRUSTED_PROXIES": "",  # 127.0.0.1 is a client here, not a proxy
}
IDLE, SLOW = 380, 20


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        return await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    except OSError:
        return None


async def _drip(writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    """Headers at one byte a second, as long as the server takes them."""
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n":
        if stop.is_set() or writer.is_closing():
            return
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except OSError:
            return
        await asyncio.sleep(1)


async def _closed_by_server(reader: asyncio.StreamReader, within_s: float) -> bytes | None:
    """What the server sent before closing, or None when it kept the connection open."""
    try:
        return await asyncio.wait_for(reader.read(), within_s)
    except (TimeoutError, OSError):
        return None


async def test_idle_and_slow_connections_do_not_lock_an_honest_client_out(tmp_path: Path, redis_url: str) -> None:
    server = start_server(tmp_path / "s", redis_url, SETTINGS)
    stop = asyncio.Event()
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    drips: list[asyncio.Task[None]] = []
    try:
        opened = [c for c in await asyncio.gather(*(_open(server.port) for _ in range(IDLE + SLOW))) if c]
        drips = [asyncio.create_task(_drip(writer, stop)) for _, writer in opened[:SLOW]]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        transport = httpx.AsyncHTTPTransport(local_address=HONEST)
        async with httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200
            created = await http.post("/api/games", json=quiz(1))
            assert created.status_code == 201, created.text
        pin = created.json()["pin"]
        async with websockets.connect(f"{server.ws_url}/ws/play/{pin}", local_addr=(HONEST, 0), open_timeout=5) as ws:
            await ws.send(orjson.dumps({"type": "join", "name": "Honest"}).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "joined"
        served_in = time.monotonic() - started
        assert served_in < 2.0, served_in
        # Past the cap the attacker's connections were refused at once with 429; the rest are
        # dropped once their headers are overdue (2 s), the dripping ones included.
        answers = await asyncio.gather(*(_closed_by_server(reader, within_s=4) for reader, _ in opened))
        refused = [a for a in answers if a and a.startswith(b"HTTP/1.1 429")]
        dropped = [a for a in answers if a == b""]
        assert len(refused) == len(opened) - 100, (len(refused), len(dropped))
        assert b'"too_many_connections"' in refused[0] and b"Retry-After: 5" in refused[0]
        assert len(dropped) == 100, (len(refused), len(dropped), len(answers))
    finally:
        stop.set()
        await asyncio.gather(*drips)
        for _, writer in opened:
            writer.close()
        server.stop()


TIMEOUTS = {"LIVEQUIZ_HEADER_TIMEOUT_S": "1", "LIVEQUIZ_BODY_TIMEOUT_S": "2"}


async def _still_open_after(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), seconds)
    except TimeoutError:
        return True
    return False


async def test_a_body_that_stalls_is_dropped_after_the_body_timeout(tmp_path: Path, redis_url: str) -> None:
    server = start_server(tmp_path / "s", redis_url, TIMEOUTS)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /api/games HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n{\"title\": "
        )
        await writer.drain()
        sent = time.monotonic()
        # Past the header timeout (1 s) the connection stays: its headers came in time.
        assert await _still_open_after(reader, 1.5)
        closed = await _closed_by_server(reader, within_s=3)
        dropped_after = time.monotonic() - sent
        writer.close()
        assert closed == b"", closed  # dropped, nothing answered
        assert 2.0 <= dropped_after < 3.0, dropped_after
    finally:
        server.stop()


async def test_a_kept_alive_connections_next_request_must_arrive_in_time(tmp_path: Path, redis_url: str) -> None:
    server = start_server(tmp_path / "s", redis_url, TIMEOUTS)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for _ in range(2):  # each answered request leaves the connection open for the next
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                         .split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(1.5)  # idle between requests is uvicorn's keep-alive (5 s), not ours
        writer.write(b"GET /healthz HTTP/1.1\r\n")  # then the rest of the headers never comes
        await writer.drain()
        sent = time.monotonic()
        closed = await _closed_by_server(reader, within_s=3)
        dropped_after = time.monotonic() - sent
        writer.close()
        assert closed == b"", closed
        assert 1.0 <= dropped_after < 2.0, dropped_after
    finally:
        server.stop()
