"""Benchmark: logins per second on one server process (`POST /api/auth/login`, right password).

Argon2id dominates a login: time cost 2, memory 19 MiB (19,456 KiB), parallelism 1
(`persistence/accounts/passwords.py`). The hash runs in a worker thread, so the event loop
keeps serving while it does; the ceiling is the CPU cores the process may use.

One `livequiz serve` (its private Redis, a SQLite file unless `--database-url` is given: then a
schema of its own in that PostgreSQL database, dropped afterwards) on 127.0.0.1; `--users`
accounts are registered first, then `--logins` logins are sent by `--concurrency` clients and
timed. The auth limit (5 a minute per address) stays on as in
production: every client takes a fresh loopback source address (127.0.0.0/8) every 5 requests.
Then the same number of wrong-password and unknown-user logins are timed, one at a time, to
show both fail in about the same time. Bounded in count (`--logins`, at most 5,000) and time
(`--max-seconds`), local only.

    python -m loadtests.bench_logins --logins 300 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from loadtests.servers import ServerSet
from persistence.accounts.passwords import MEMORY_COST_KIB, PARALLELISM, TIME_COST
from persistence.db import database_url

PER_ADDRESS = 5  # PLATFORM.md: the auth endpoints take 5 a minute per address
PASSWORD = "bench password 1"


class Addresses:
    """Fresh loopback source addresses, one per `PER_ADDRESS` auth requests."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def next(self) -> str:
        n = next(self._numbers)
        return f"127.{200 + n // 62500 % 50}.{n // 250 % 250}.{n % 250 + 1}"


async def _post(address: str, url: str, body: dict[str, str]) -> tuple[int, float]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=60) as client:
        started = time.perf_counter()
        response = await client.post(url, json=body)
        return response.status_code, time.perf_counter() - started


async def register_users(base: str, users: int, addresses: Addresses) -> list[str]:
    names = [f"bench_{i:05d}" for i in range(users)]
    for start in range(0, users, PER_ADDRESS):
        address = addresses.next()
        batch = names[start:start + PER_ADDRESS]
        results = await asyncio.gather(*(
            _post(address, f"{base}/api/auth/register", {"username": n, "password": PASSWORD, "first_name": "B"})
            for n in batch
        ))
        if any(status != 201 for status, _ in results):
            raise RuntimeError(f"register failed: {results}")
    return names


async def timed_logins(base: str, names: list[str], total: int, concurrency: int, addresses: Addresses,
                       deadline: float) -> tuple[int, float, list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(names[i % len(names)])
    latencies: list[float] = []
    failures = 0

    async def client() -> None:
        nonlocal failures
        while time.monotonic() < deadline and not queue.empty():
            # One connection per address (kept alive for its 5 logins): the client's own cost
            # stays small beside the server's on a shared box.
            transport = httpx.AsyncHTTPTransport(local_address=addresses.next())
            async with httpx.AsyncClient(transport=transport, timeout=60) as http:
                for _ in range(PER_ADDRESS):
                    try:
                        name = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    started = time.perf_counter()
                    response = await http.post(f"{base}/api/auth/login", json={"login": name, "password": PASSWORD})
                    if response.status_code == 200:
                        latencies.append(time.perf_counter() - started)
                    else:
                        failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return failures, time.perf_counter() - started, latencies


async def failed_login_times(base: str, name: str, count: int, addresses: Addresses) -> tuple[float, float]:
    wrong: list[float] = []
    unknown: list[float] = []
    for i in range(count):
        address = addresses.next()
        status_w, seconds_w = await _post(address, f"{base}/api/auth/login", {"login": name, "password": "nope 123x"})
        status_u, seconds_u = await _post(address, f"{base}/api/auth/login",
                                          {"login": f"nobody_{i}", "password": "nope 123x"})
        assert status_w == status_u == 401, (status_w, status_u)
        wrong.append(seconds_w)
        unknown.append(seconds_u)
    return statistics.median(wrong), statistics.median(unknown)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def main_async(args: argparse.Namespace, base: str) -> None:
    addresses = Addresses()
    names = await register_users(base, args.users, addresses)
    deadline = time.monotonic() + args.max_seconds
    failures, elapsed, latencies = await timed_logins(base, names, args.logins, args.concurrency, addresses, deadline)
    done = len(latencies)
    latencies.sort()
    print(f"argon2id t={TIME_COST} m={MEMORY_COST_KIB} KiB p={PARALLELISM}; one server process; "
          f"concurrency {args.concurrency}")
    print(f"logins: {done} in {elapsed:.2f} s = {done / elapsed:.1f} per second ({failures} failed)")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"latency: median {_ms(statistics.median(latencies))}, p99 {_ms(p99)}")
    wrong, unknown = await failed_login_times(base, names[0], args.failed_samples, addresses)
    print(f"failed logins, median of {args.failed_samples}: wrong password {_ms(wrong)}, unknown user {_ms(unknown)}")


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(database_url(url, Path(".")))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--failed-samples", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; empty: a SQLite file")
    args = parser.parse_args()
    args.logins = max(1, min(args.logins, 5000))
    schema = "bench_logins_" + secrets.token_hex(4)
    env: dict[str, str] = {}
    if args.database_url:
        asyncio.run(_admin(args.database_url, f'CREATE SCHEMA "{schema}"'))
        env = {"LIVEQUIZ_DATABASE_URL": args.database_url, "LIVEQUIZ_DATABASE_SCHEMA": schema}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-logins-") as tmp:
            servers = ServerSet(count=1, env=env, data_root=Path(tmp))
            try:
                base = servers.start()[0]
                asyncio.run(main_async(args, base))
            finally:
                servers.stop()
    finally:
        if args.database_url:
            asyncio.run(_admin(args.database_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
