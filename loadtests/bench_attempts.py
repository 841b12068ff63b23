"""Benchmark: N concurrent solo attempts answering over HTTP on one server process.

One `livequiz serve` on 127.0.0.1 (its private Redis; a SQLite file, or PostgreSQL with
`--database-url` in a schema of its own, dropped after). `--attempts` users are written
straight into its database with API tokens; one exam of `--questions` select_one questions is
created over HTTP. Then every user at once starts an attempt, answers every question
(`PUT /api/attempts/{id}/answers/{n}`, 0.5-1.5 x `--think-ms` apart; 0: as fast as the server
answers) and finishes. Reported: the answer latency (median, p95, p99, max), errors by status, answers
per second, and the start and finish latencies. The per-user request limit (60 a minute) stays
on, as in production. Bounded in count (`--attempts` at most 2,000) and time
(`--max-seconds`), local only.

    python -m loadtests.bench_attempts --attempts 1000 --questions 10
    python -m loadtests.bench_attempts --attempts 1000 --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import resource
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from sqlalchemy import text

from loadtests.rawhttp import RawHttp
from loadtests.servers import ServerSet
from persistence.accounts import tokens
from persistence.accounts.models import User
from persistence.db import Database, database_url

MAX_ATTEMPTS = 2000


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def make_users(db: Database, count: int) -> list[str]:
    """`count` users with an API token each, in one transaction."""
    found: list[str] = []
    async with db.transaction() as session:
        for i in range(count):
            user = User(username=f"bench_{i:05d}", first_name="Bench")
            session.add(user)
            await session.flush()
            assert user.id is not None
            found.append((await tokens.issue(session, user.id, "api")).token)
    return found


def exam_body(questions: int) -> dict[str, Any]:
    return {"title": "Benchmark exam", "time_limit_s": 3600, "questions": [
        {"type": "select_one", "text": f"Question {i}?", "options": ["A", "B", "C", "D"], "correct": i % 4}
        for i in range(questions)
    ]}


class Tally:
    def __init__(self) -> None:
        self.answer: list[float] = []
        self.start: list[float] = []
        self.finish: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()


async def timed(tally: Tally, bucket: list[float], call: Any, expected: int) -> bytes | None:
    started = time.perf_counter()
    try:
        status, body = await call
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        tally.errors[type(error).__name__] += 1
        return None
    bucket.append(time.perf_counter() - started)
    if status != expected:
        tally.errors[str(status)] += 1
        return None
    return bytes(body)


async def one_attempt(port: int, token: str, exam_id: int, questions: int, think: float,
                      tally: Tally, go: asyncio.Event) -> None:
    http = RawHttp(port, {"Authorization": f"Bearer {token}"})
    await go.wait()
    try:
        started = await timed(tally, tally.start, http.request(
            "POST", f"/api/exams/{exam_id}/attempts", {"platform": "mobile"}), 201)
        if started is None:
            return
        attempt = orjson.loads(started)["id"]
        for n in range(questions):
            if think:  # people do not answer in step: 0.5-1.5 times the think time
                await asyncio.sleep(think * random.uniform(0.5, 1.5))
            await timed(tally, tally.answer, http.request(
                "PUT", f"/api/attempts/{attempt}/answers/{n}", {"option": n % 3}), 204)
        await timed(tally, tally.finish, http.request("POST", f"/api/attempts/{attempt}/finish"), 200)
    finally:
        await http.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def _line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return (f"{name}: n={len(values)} median {statistics.median(values) * 1000:.1f} ms, "
            f"p95 {_pct(values, 0.95) * 1000:.1f} ms, p99 {_pct(values, 0.99) * 1000:.1f} ms, "
            f"max {max(values) * 1000:.1f} ms")


def server_cpu_seconds(servers: ServerSet) -> float:
    """CPU seconds used so far by the server process and its children (Redis included)."""
    procs, redis = servers.processes()
    total = 0.0
    for proc in [*procs, *redis]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


async def run(args: argparse.Namespace, base: str, db: Database, servers: ServerSet) -> None:
    tokens_ = await make_users(db, args.attempts)
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        made = await http.post("/api/exams", json=exam_body(args.questions) | {"show_in_mobile": True},
                               headers={"Authorization": f"Bearer {tokens_[0]}"})
        made.raise_for_status()
        exam_id = made.json()["id"]
        tally = Tally()
        go = asyncio.Event()
        port = int(base.rsplit(":", 1)[1])
        tasks = [asyncio.create_task(one_attempt(port, token, exam_id, args.questions, args.think_ms / 1000, tally, go))
                 for token in tokens_]
        await asyncio.sleep(0.2)
        cpu_before = server_cpu_seconds(servers)
        client_before = time.process_time()
        started = time.perf_counter()
        go.set()
        done, pending = await asyncio.wait(tasks, timeout=args.max_seconds)
        elapsed = time.perf_counter() - started
        cpu = server_cpu_seconds(servers) - cpu_before
        client_cpu = time.process_time() - client_before
        for task in pending:
            task.cancel()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{args.attempts} concurrent attempts x {args.questions} answers, think {args.think_ms} ms, "
          f"one server process, {backend}; {len(done)} attempts done, {len(pending)} cut off at {args.max_seconds} s")
    print(_line("answer (PUT)", tally.answer))
    print(_line("start (POST)", tally.start))
    print(_line("finish (POST)", tally.finish))
    print(f"answers: {len(tally.answer)} in {elapsed:.1f} s = {len(tally.answer) / elapsed:.0f} per second")
    print(f"errors: {dict(tally.errors) or 'none'}")
    requests = len(tally.answer) + len(tally.start) + len(tally.finish)
    # On a shared box the latencies include waiting for a core; the server's own CPU per
    # request does not (what one core could serve: 1 / that).
    print(f"server CPU: {cpu:.1f} s over {elapsed:.1f} s ({cpu / elapsed:.0%} of a core), "
          f"{cpu / max(requests, 1) * 1000:.2f} ms per request ({requests} requests); "
          f"load generator {client_cpu / elapsed:.0%} of a core")


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        env: dict[str, str] = {}
        schema = None
        if args.database_url:
            schema = "bench_" + secrets.token_hex(4)
            url = database_url(args.database_url, Path(folder))
            admin = Database(url)
            async with admin.engine.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            await admin.dispose()
            env = {"LIVEQUIZ_DATABASE_URL": args.database_url, "LIVEQUIZ_DATABASE_SCHEMA": schema}
        servers = ServerSet(count=1, env=env, data_root=Path(folder))
        try:
            base = servers.start()[0]
            url = database_url(args.database_url, Path(folder) / "server0")
            db = Database(url, schema=schema)
            try:
                await run(args, base, db, servers)
            finally:
                await db.dispose()
        finally:
            servers.stop()
            if schema:
                admin = Database(database_url(args.database_url, Path(folder)))
                async with admin.engine.begin() as connection:
                    await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1000, help=f"concurrent attempts (at most {MAX_ATTEMPTS})")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--think-ms", type=int, default=0, help="pause before each answer")
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; empty: a SQLite file")
    args = parser.parse_args()
    if not 1 <= args.attempts <= MAX_ATTEMPTS or not 1 <= args.questions <= 50:
        parser.error(f"--attempts 1-{MAX_ATTEMPTS}, --questions 1-50")
    _raise_open_files()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
