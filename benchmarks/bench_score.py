"""Benchmark: closing one question of a big game, server side only (no sockets).

A game with N joined players who all answered is written to a real Redis (a private one
unless `--redis-url` is given); then the question is closed and scored with the service's own
code, and the time from "all answered" to the reveal event being published is measured. Then
the second question is played the same way and timed too: it is scored on top of N totals
(the first question has none). `--repeat` fresh games; medians are reported.

    python -m benchmarks.bench_score --players 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from gameserver.embedded_redis import EmbeddedRedis
from gameserver.keys import GameKeys
from gameserver.quizzes import Question, Quiz
from gameserver.service import GameService
from gameserver.settings import Settings
from gameserver.store import GameStore
from statemachine import AllAnswered, Next, Start

QUIZ = Quiz(
    "bench",
    tuple(Question(f"q{i}", ("a", "b", "c", "d"), i % 4, 20_000) for i in range(3)),
)


async def _one_run(redis: Redis, players: int) -> dict[str, float]:
    settings = Settings()
    store = GameStore(redis, game_ttl_s=600, results_ttl_s=600)
    service = GameService(store, settings)
    pin, _ = await service.create_game(QUIZ)
    keys = GameKeys(pin)
    pipe = redis.pipeline(transaction=False)
    for i in range(players):
        pipe.hset(keys.players, f"player{i:06d}", f"Player {i}")
        pipe.hset(keys.names, f"player {i}", f"player{i:06d}")
        pipe.hincrby(keys.connected, f"player{i:06d}", 1)
    pipe.hset(keys.meta, "players", str(players))
    await pipe.execute()
    state = await service.apply(pin, Start())
    # Listen to the game's channel to time the publish of each reveal.
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.channel)
    timings: dict[str, float] = {}
    for question in range(2):
        if question:
            state = await service.apply(pin, Next())
        pipe = redis.pipeline(transaction=False)
        for i in range(players):
            pipe.hset(keys.answers(question), f"player{i:06d}", f"{i % 4},{state.opened_ms + 1 + i % 15_000}")
        await pipe.execute()
        gc.collect()
        started = time.perf_counter()
        await service.apply(pin, AllAnswered(question))
        scored = time.perf_counter()
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is not None and b'"reveal"' in message["data"][:200]:
                break
        received = time.perf_counter()
        suffix = "" if question == 0 else "_q2_with_totals"
        timings[f"close_and_score_ms{suffix}"] = (scored - started) * 1000
        timings[f"published_seen_ms{suffix}"] = (received - started) * 1000
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.delete(*keys.all_keys(len(QUIZ.questions)))
    return timings


async def _main(args: argparse.Namespace) -> None:
    embedded = None
    url = args.redis_url
    if not url:
        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-score-")))
        url = embedded.start()
    redis = Redis.from_url(url)
    try:
        runs = [await _one_run(redis, args.players) for _ in range(args.repeat)]
    finally:
        await redis.aclose()
        if embedded is not None:
            embedded.stop()
    for name in runs[0]:
        values = [run[name] for run in runs]
        print(f"{name}: median {statistics.median(values):.1f} ms (min {min(values):.1f}, max {max(values):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--redis-url", default="")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
