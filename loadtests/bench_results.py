"""Benchmark: storing the results of a finished N-player game in SQL, and what it costs the
loop that serves sockets.

The write goes through the server's own path (`gameserver.sqlworker.SqlWorker` running
`persistence.results.store.record_game`), into a fresh database: SQLite (a file in a temporary
folder) or PostgreSQL (`--database-url`, in a schema of its own, dropped after). While it runs,
a ticker on the calling loop wakes every millisecond and records how late it woke: the longest
stall is what sockets would have waited. `--repeat` fresh games; medians are reported.

    python -m loadtests.bench_results --players 10000 --repeat 5
    python -m loadtests.bench_results --players 10000 --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from gameserver.gcwatch import freeze, tune
from gameserver.sqlworker import SqlWorker
from persistence.db import Database, database_url
from persistence.results.store import FinishedGame, ResultLine, record_game


def big_game(players: int, key: str) -> FinishedGame:
    lines = [ResultLine(i + 1, f"player {i:05d}", 10_000 - i, 10, 10 - i % 11, None) for i in range(players)]
    return FinishedGame(key, "123456", "Benchmark", "d" * 64, 10, datetime.now(UTC), lines)


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - before - 0.001)


async def idle_stall(seconds: float) -> float:
    """The worst stall of the same ticker with nothing to store: the box's own noise."""
    stop = asyncio.Event()
    lags: list[float] = []
    ticker = asyncio.create_task(_ticker(stop, lags))
    await asyncio.sleep(seconds)
    stop.set()
    await ticker
    return max(lags, default=0.0)


async def one_run(worker: SqlWorker, players: int) -> tuple[float, float]:
    """(seconds to store, worst loop stall in seconds) for one fresh game."""
    game = big_game(players, f"123456:{secrets.token_hex(6)}")
    stop = asyncio.Event()
    lags: list[float] = []
    ticker = asyncio.create_task(_ticker(stop, lags))
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    written = await worker.run(lambda db: record_game(db, game))
    elapsed = time.perf_counter() - started
    stop.set()
    await ticker
    assert written
    return elapsed, max(lags, default=0.0)


async def main_async(args: argparse.Namespace) -> None:
    schema = None
    with tempfile.TemporaryDirectory() as folder:
        url = database_url(args.database_url, Path(folder))
        if args.database_url:
            schema = "bench_" + secrets.token_hex(4)
            admin = Database(url)
            async with admin.engine.begin() as connection:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            await admin.dispose()
        db = Database(url, schema=schema)
        await db.upgrade()
        tune()  # the collector as the server sets it: young collections rarer, start-up frozen
        freeze()
        worker = SqlWorker(url, schema)
        worker.start()
        try:
            runs = []
            idle = []
            for _ in range(args.repeat):
                runs.append(await one_run(worker, args.players))
                idle.append(await idle_stall(runs[-1][0]))
        finally:
            worker.stop()
            await db.dispose()
            if schema:
                admin = Database(url)
                async with admin.engine.begin() as connection:
                    await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                await admin.dispose()
    backend = "postgresql" if args.database_url else "sqlite"
    times = [t for t, _ in runs]
    stalls = [s for _, s in runs]
    print(f"{backend}: {args.players} players, {args.repeat} runs")
    print(f"  store: median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
          f"max {max(times) * 1000:.0f})")
    print(f"  worst loop stall while storing: median {statistics.median(stalls) * 1000:.1f} ms "
          f"(max {max(stalls) * 1000:.1f}); with nothing to store, the same time: median "
          f"{statistics.median(idle) * 1000:.1f} ms (max {max(idle) * 1000:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; empty: a SQLite file")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
