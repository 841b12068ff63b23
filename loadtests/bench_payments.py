"""Benchmark: wallet money movements per second on PostgreSQL, with 1 and 2 server processes,
and the ledger's invariant check afterwards.

Two measurements, each on a fresh schema (dropped after):

- `http`: `POST /api/wallet/transfers` (earnings → bonus, 10 % tax: a payment-shaped movement
  of three entries, two locked user balances and an Idempotency-Key row) sent by `--concurrency`
  clients, spread over 1 and then 2 `livequiz serve` processes sharing one Redis and the
  database. Paid exams have no HTTP route yet, so this is the HTTP path measured.
- `direct`: `persistence.wallet.service.pay_for_exam` (bonus first, then main, to the owner's
  earnings) called by 1 and then 2 worker processes, `--concurrency` transactions at a time
  each: the ledger alone, without HTTP.

Users are spread so that most movements touch different accounts (`--users`); `--hot` makes
every payment come from one payer instead, the worst case for row locks. Bounded by
`--movements` (at most 20,000) and `--max-seconds`; local only (127.0.0.1).

    python -m loadtests.bench_payments --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from loadtests.servers import ServerSet
from persistence.accounts import tokens
from persistence.accounts.models import User
from persistence.db import Database, database_url
from persistence.wallet import invariants, service
from persistence.wallet.errors import WalletError
from persistence.wallet.money import WalletConfig
from persistence.wallet.providers import SandboxProvider

CONFIG = WalletConfig()
PROVIDER = SandboxProvider()
PRICE = 1_000


async def _admin(url: str, statement: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await db.dispose()


async def seed(url: str, schema: str, users: int, funds: int) -> tuple[list[int], list[str]]:
    """`users` accounts with an API token each, `funds` on main and `funds` of earnings."""
    db = Database(url, schema=schema)
    await db.upgrade()
    ids: list[int] = []
    secrets_: list[str] = []
    try:
        for i in range(users):
            async with db.transaction() as session:
                user = User(username=f"bench_{i:05d}", first_name="B")
                session.add(user)
                await session.flush()
                assert user.id is not None
                ids.append(user.id)
                secrets_.append((await tokens.issue(session, user.id, "api")).token)
                topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user.id, funds)
                assert topup.id is not None and otp is not None
                await service.confirm_topup(session, PROVIDER, CONFIG, user.id, topup.id, otp)
        for i, user_id in enumerate(ids):  # earnings arise from payments: each pays the next
            async with db.transaction() as session:
                await service.pay_for_exam(session, user_id, ids[(i + 1) % len(ids)], funds // 2, exam_id=0)
    finally:
        await db.dispose()
    return ids, secrets_


async def check(url: str, schema: str) -> invariants.Report:
    db = Database(url, schema=schema)
    try:
        async with db.session() as session:
            return await invariants.check(session)
    finally:
        await db.dispose()


async def http_run(
    bases: list[str], token_list: list[str], total: int, concurrency: int, deadline: float
) -> tuple[int, int, float, list[float]]:
    counter = itertools.count()
    latencies: list[float] = []
    refused = 0

    async def client(n: int) -> None:
        nonlocal refused
        base = bases[n % len(bases)]
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            while time.monotonic() < deadline:
                i = next(counter)
                if i >= total:
                    return
                headers = {
                    "Authorization": f"Bearer {token_list[i % len(token_list)]}",
                    "Idempotency-Key": secrets.token_hex(16),
                }
                started = time.perf_counter()
                response = await http.post(
                    "/api/wallet/transfers", json={"amount": PRICE, "to": "bonus"}, headers=headers
                )
                if response.status_code == 201:
                    latencies.append(time.perf_counter() - started)
                else:
                    refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return len(latencies), refused, time.perf_counter() - started, latencies


def _direct_worker(
    url: str,
    schema: str,
    ids: list[int],
    total: int,
    concurrency: int,
    hot: bool,
    seed_: int,
    out: multiprocessing.Queue[tuple[int, int, list[float]]],
) -> None:
    async def run() -> tuple[int, int, list[float]]:
        db = Database(url, schema=schema)
        counter = itertools.count()
        latencies: list[float] = []
        refused = 0

        async def worker() -> None:
            nonlocal refused
            while (i := next(counter)) < total:
                payer = ids[0] if hot else ids[(i * 7 + seed_) % len(ids)]
                owner = ids[(i * 7 + seed_ + 1) % len(ids)]
                started = time.perf_counter()
                try:
                    async with db.transaction() as session:
                        await service.pay_for_exam(session, payer, owner, PRICE, exam_id=1)
                except WalletError:
                    refused += 1
                    continue
                latencies.append(time.perf_counter() - started)

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await db.dispose()
        return len(latencies), refused, latencies

    out.put(asyncio.run(run()))


def direct_run(
    url: str, schema: str, ids: list[int], total: int, processes: int, concurrency: int, hot: bool
) -> tuple[int, int, float, list[float]]:
    queue: multiprocessing.Queue[tuple[int, int, list[float]]] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(
            target=_direct_worker, args=(url, schema, ids, total // processes, concurrency, hot, n * 3, queue)
        )
        for n in range(processes)
    ]
    started = time.perf_counter()
    for process in workers:
        process.start()
    results = [queue.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - started
    for process in workers:
        process.join(30)
    latencies = [x for _, _, lat in results for x in lat]
    return sum(r[0] for r in results), sum(r[1] for r in results), elapsed, latencies


def _line(label: str, done: int, refused: int, elapsed: float, latencies: list[float]) -> str:
    latencies = sorted(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    median = statistics.median(latencies) if latencies else 0.0
    return (
        f"{label}: {done} in {elapsed:.2f} s = {done / elapsed:.0f}/s ({refused} refused); "
        f"latency median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL (the figure asked for is PostgreSQL's)")
    parser.add_argument("--movements", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--hot", action="store_true", help="direct mode: every payment from one payer")
    parser.add_argument("--mode", choices=["http", "direct", "both"], default="both")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    args.movements = max(1, min(args.movements, 20_000))
    url = database_url(args.database_url, Path("."))
    # Enough for every movement to succeed, whoever it lands on.
    funds = max(100_000, 2 * PRICE * args.movements * (args.users if args.hot else 1) // max(args.users, 1) * 4)
    for processes in (1, 2):
        schema = "bench_" + secrets.token_hex(4)
        asyncio.run(_admin(url, f'CREATE SCHEMA "{schema}"'))
        try:
            ids, token_list = asyncio.run(seed(url, schema, args.users, funds))
            if args.mode in ("http", "direct", "both") and args.mode != "direct":
                env = {
                    "LIVEQUIZ_DATABASE_URL": args.database_url,
                    "LIVEQUIZ_DATABASE_SCHEMA": schema,
                    "LIVEQUIZ_PLATFORM_RATE_USER": "0",
                    "LIVEQUIZ_PLATFORM_RATE_ANONYMOUS": "0",
                }
                with tempfile.TemporaryDirectory(prefix="bench-payments-") as tmp:
                    servers = ServerSet(count=processes, env=env, data_root=Path(tmp))
                    try:
                        bases = servers.start()
                        result = asyncio.run(
                            http_run(
                                bases, token_list, args.movements, args.concurrency, time.monotonic() + args.max_seconds
                            )
                        )
                    finally:
                        servers.stop()
                print(_line(f"http transfers, {processes} server process(es), concurrency {args.concurrency}", *result))
            if args.mode != "http":
                result = direct_run(url, schema, ids, args.movements, processes, args.concurrency, args.hot)
                print(
                    _line(
                        f"direct payments{' (one hot payer)' if args.hot else ''}, {processes} process(es) x "
                        f"{args.concurrency} transactions",
                        *result,
                    )
                )
            report = asyncio.run(check(url, schema))
            print(f"  after {processes} process(es): {report.describe()}")
            if not report.ok:
                raise SystemExit(1)
        finally:
            asyncio.run(_admin(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
