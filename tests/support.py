"""Test support: a real `livequiz serve` process and a small protocol client."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgpack
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from tests import premigrated_sqlite

TEST_SETTINGS = {
    "LIVEQUIZ_SWEEP_INTERVAL_MS": "300",
    "LIVEQUIZ_LOBBY_INTERVAL_MS": "100",
    "LIVEQUIZ_CLOSE_GRACE_MS": "100",
    "LIVEQUIZ_FIRST_MESSAGE_TIMEOUT_S": "2",
    # Every test client comes from 127.0.0.1: the per-address limits would count the whole
    # suite as one school. tests/integration/test_edge_iplimits.py turns them on.
    "LIVEQUIZ_IP_JOIN_LIMIT": "0",
    "LIVEQUIZ_IP_CREATE_LIMIT": "0",
    "LIVEQUIZ_IP_LOOKUP_MISS_LIMIT": "0",
    # Likewise the platform's per-IP and per-user request limits (test_platform_limits.py).
    "LIVEQUIZ_PLATFORM_RATE_ANONYMOUS": "0",
    "LIVEQUIZ_PLATFORM_RATE_USER": "0",
    "LIVEQUIZ_PLATFORM_RATE_AUTH": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server printed, for a failing test's message."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as a crash would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(
    data_dir: Path, redis_url: str, extra_env: dict[str, str] | None = None, workers: int = 1,
    soft_open_files: int | None = None, log_level: str = "warning",
) -> ServerProcess:
    """`livequiz serve` on a free port; `soft_open_files` starts it with that soft open-files
    limit, as a login shell's 1,024 would. A port another process (an xdist worker) took
    between `free_port()` and the server's bind is given up for a fresh one. A server on the
    default SQLite database starts on a copy of one already migrated (`tests.premigrated_sqlite`),
    unless its data directory has a database."""
    for _ in range(PORT_ATTEMPTS - 1):
        try:
            return _start_server(data_dir, redis_url, extra_env, workers, soft_open_files, log_level)
        except PortTaken:
            continue
    return _start_server(data_dir, redis_url, extra_env, workers, soft_open_files, log_level)


PORT_ATTEMPTS = 3


@contextmanager
def two_servers(data_dir: Path, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes sharing one Redis (or cluster), both stopped after."""
    first = start_server(data_dir / "a", redis_url)
    try:
        second = start_server(data_dir / "b", redis_url)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


class PortTaken(RuntimeError):
    """The server exited because its port was no longer free."""


def _start_server(
    data_dir: Path, redis_url: str, extra_env: dict[str, str] | None, workers: int,
    soft_open_files: int | None, log_level: str,
) -> ServerProcess:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ) | TEST_SETTINGS | {
        "LIVEQUIZ_REDIS_URL": redis_url,
        "LIVEQUIZ_DATA_DIR": str(data_dir),
    } | (extra_env or {})
    premigrated_sqlite.prepare(data_dir, env)
    log_path = data_dir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        # The shell lowers the limit and is replaced by the server (exec): the same pid.
        lowered = [] if soft_open_files is None else ["sh", "-c", f'ulimit -Sn {soft_open_files} && exec "$0" "$@"']
        process = subprocess.Popen(
            [*lowered, sys.executable, "-m", "gameserver.cli", "serve", "--port", str(port), "--log-level", log_level,
             "--workers", str(workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    server = ServerProcess(port, process, log_path)
    # A start takes ~1.5 s of CPU (~2 s when it migrates); on a busy machine (the suite's workers
    # each starting servers) it may wait for a core much longer than that.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = log_path.read_text()
            if "address already in use" in log_text.lower():
                raise PortTaken(f"port {port} was taken: {log_text}")
            raise RuntimeError(f"server exited: {log_text}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become ready: {log_path.read_text()}")


def quiz(n: int = 3, time_limit: int = 20, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Test quiz",
        "questions": [
            {"text": f"Question {i}?", "options": ["A0", "B1", "C2", "D3"], "correct": i % 4, "time_limit": time_limit}
            for i in range(n)
        ],
        **extra,
    }


QUIET = frozenset({"lobby", "answer_count", "pong"})


@dataclass
class Client:
    """A protocol client that keeps every message it receives, for later assertions."""

    ws: ClientConnection
    codec: str = "json"
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str | bytes] = field(default_factory=list)

    @classmethod
    async def connect(cls, url: str, codec: str = "json") -> Client:
        protocol = "quiz.v1.msgpack" if codec == "msgpack" else "quiz.v1.json"
        ws = await websockets.connect(url, subprotocols=[protocol], max_size=2**24, open_timeout=10)  # type: ignore[list-item]
        return cls(ws, codec)

    async def send(self, message: dict[str, Any]) -> None:
        if self.codec == "msgpack":
            await self.ws.send(msgpack.packb(message))
        else:
            await self.ws.send(orjson.dumps(message).decode())

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def next_message(self, timeout: float = 10) -> dict[str, Any]:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        self.raw.append(data)
        message = msgpack.unpackb(data) if isinstance(data, bytes) else orjson.loads(data)
        self.received.append(message)
        return dict(message)

    async def recv(self, kind: str | Iterable[str], timeout: float = 10, skip: Iterable[str] = QUIET) -> dict[str, Any]:
        """The next message of type `kind`, skipping lobby/answer_count/pong noise. Anything
        else unexpected fails the test."""
        kinds = {kind} if isinstance(kind, str) else set(kind)
        skipping = set(skip) - kinds
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {kinds} within {timeout}s; got {[m.get('type') for m in self.received[-5:]]}")
            message = await self.next_message(left)
            if message.get("type") in kinds:
                return message
            if message.get("type") not in skipping:
                raise AssertionError(f"expected {kinds}, got {message}")

    async def closed_with(self, timeout: float = 10) -> int | None:
        """Read until the server closes; the close code."""
        try:
            while True:
                await self.next_message(timeout)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


async def no_message(client: Client, kinds: set[str], within_s: float) -> None:
    """Nothing of `kinds` reaches `client` within `within_s` of real time (other messages are
    read past)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within_s
    while (left := until - loop.time()) > 0:
        try:
            message = await client.next_message(left)
        except TimeoutError:
            return
        assert message.get("type") not in kinds, message


async def create_game(base_url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(base_url + "/api/games", json=body or quiz())
        assert response.status_code == 201, response.text
        return dict(response.json())


async def host(server_ws: str, game: dict[str, Any]) -> Client:
    client = await Client.connect(f"{server_ws}/ws/host/{game['pin']}")
    await client.send({"type": "host", "token": game["host_token"]})
    await client.recv("hosting")
    return client


async def player(server_ws: str, pin: str, name: str, codec: str = "json") -> tuple[Client, dict[str, Any]]:
    client = await Client.connect(f"{server_ws}/ws/play/{pin}", codec)
    await client.send({"type": "join", "name": name})
    joined = await client.recv("joined")
    return client, joined
