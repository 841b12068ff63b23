"""Finished games' results go to SQL exactly once, whatever process finishes the game.

Theory of operation. Finishing a game (`GameService.finish`) stores its final results in Redis
and then adds its PIN to the `ARCHIVE` sorted set, before it removes the game from the due set:
a process that dies in between leaves the game due, and whoever sweeps it finishes it again
(idempotent) and enqueues it. Every process then archives:

1. claim due PINs from `ARCHIVE` with a lease (the deadline sweep's `CLAIM_DUE` script): one
   process works on a game at a time, and a dead one's claim lapses to another;
2. read the game's meta, final results and account links from Redis;
3. write the game and all its lines in one SQL transaction, keyed by `PIN:created_ms`
   (`persistence.results.store.record_game`): a second write of the same game writes nothing;
4. only then remove the PIN from `ARCHIVE`.

A crash anywhere leaves either nothing in SQL (the transaction rolled back) and the PIN still
queued, or the whole game in SQL and the PIN perhaps still queued (step 3 then finds it
stored). The SQL work runs on the `SqlWorker` thread, off the loop that serves sockets.

On a Redis Cluster the queue is sharded like the due set (`keys.DueSets`: one slot would take
every finished game of the world); every process claims from every shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gameserver import metrics, scripts
from gameserver.clock import Clock, SystemClock
from gameserver.envelopes import Messages
from gameserver.keys import ARCHIVE, CLUSTER_SHARDS, DueSets, GameKeys
from gameserver.redis_client import LuaScript, RedisClient, is_cluster
from gameserver.sqlworker import SqlWorker
from persistence.results.store import FinishedGame, ResultLine, record_game

log = logging.getLogger("livequiz.archiver")

RETRY_MS = 5_000


def finished_game(pin: str, meta: Mapping[bytes, bytes], event: Messages,
                  links: Mapping[bytes, bytes], finished_ms: int) -> FinishedGame:
    """The SQL record of a finished game, from what Redis holds of it.

    The final results event lists everyone in ranking order twice: `host.results` (the lines)
    and `you` (player_id -> own line), built from the same standings in the same order; so the
    n-th key of `you` is the player of the n-th line, which is how lines find their accounts.
    """
    rows = event.host_results
    player_ids = list(event.items[0].you or {})
    accounts = {k.decode(): int(v) for k, v in links.items()}
    if len(player_ids) != len(rows):
        player_ids = [""] * len(rows)  # never link a line to the wrong person
    lines = [
        ResultLine(int(r["rank"]), str(r["name"]), int(r["score"]), int(r["answers"]), int(r["correct"]),
                   accounts.get(f"p:{pid}"))
        for r, pid in zip(rows, player_ids, strict=True)
    ]
    fields = {k.decode(): v.decode() for k, v in meta.items()}
    return FinishedGame(
        game_key=f"{pin}:{fields['created']}", pin=pin, title=fields["title"], host_digest=fields["host"],
        question_count=int(fields["count"]), finished_at=datetime.fromtimestamp(finished_ms / 1000, UTC),
        lines=lines, host_user_id=accounts.get("host"), exam_id=accounts.get("exam"),
    )


class ResultsArchiver:
    def __init__(self, redis: RedisClient, worker: SqlWorker, *, lease_ms: int, clock: Clock | None = None) -> None:
        self.redis = redis
        self.lease_ms = lease_ms
        self.worker = worker
        self.clock = clock if clock is not None else SystemClock()  # claims, leases, rounds
        self.now_ms = self.clock.now_ms
        self._claim = LuaScript(redis, scripts.CLAIM_DUE)
        self.queue = DueSets(ARCHIVE, CLUSTER_SHARDS if is_cluster(redis) else 1)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def enqueue(self, pin: str) -> None:
        """Queue a finished game (idempotent), and archive it now in this process."""
        await self.redis.zadd(self.queue.key_for(pin), {pin: self.now_ms()}, nx=True)
        task = asyncio.create_task(self.run_once(), name=f"archive-{pin}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_once(self, limit: int = 20) -> int:
        """Archive the queued games that are due; the number archived (or found archived)."""
        now = self.now_ms()
        args = [now, now + self.lease_ms, limit]
        claimed = await asyncio.gather(*(self._claim(keys=[key], args=args) for key in self.queue.keys))
        done = 0
        for item in (item for raw in claimed for item in raw):
            pin = item.decode() if isinstance(item, bytes) else str(item)
            try:
                await self.archive(pin)
                done += 1
            except Exception:
                log.exception("could not store the results of game %s; will retry", pin)
                await self.redis.zadd(self.queue.key_for(pin), {pin: self.now_ms() + RETRY_MS}, xx=True)
        return done

    async def archive(self, pin: str) -> bool:
        """Store one finished game's results; True when this call wrote them."""
        keys = GameKeys(pin)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.meta)
            pipe.get(keys.results)
            pipe.hgetall(keys.links)
            meta, stored, links = await pipe.execute()
        if not meta or stored is None:
            log.error("game %s left the archive queue with no results in Redis to store", pin)
            await self.redis.zrem(self.queue.key_for(pin), pin)
            return False
        game = finished_game(pin, meta, Messages.from_json(stored), links, self.now_ms())
        written = await self.worker.run(lambda db: record_game(db, game))
        await self.redis.zrem(self.queue.key_for(pin), pin)
        if written:
            metrics.RESULTS_STORED.inc()
            log.info("stored the results of game %s (%d players)", pin, len(game.lines))
        return written

    async def run_forever(self, interval_s: float) -> None:
        while True:
            await self.clock.sleep(interval_s)  # the process clock: a FakeClock's advance archives
            try:
                await self.run_once()
            except Exception:
                log.exception("results archive sweep failed")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
