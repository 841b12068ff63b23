"""The deadline sweeper: solo attempts left past their deadline are finished by the server.

Theory of operation. An attempt past its deadline takes no more answers, and whoever touches it
next finishes it (`persistence.exams.attempts.load`). Nobody may touch it again — a taker who
closed the page, a bot user who stopped replying — so every serving process runs this loop:
each `interval_s` it tries to take the database's round lease (`round_lease`), and the one
process that gets it finishes the overdue attempts (`finish_overdue`: each under its row lock,
scored with what was answered, `ended_by` "deadline"). The others skip that round, so the
database is asked once per interval, not once per process. Two sweeps overlapping (a slow one
outliving its lease) are harmless: finishing is idempotent under the row lock.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis, RedisCluster

from gameserver.clock import Clock, SystemClock
from gameserver.platform.round_lease import RoundLease, every_round
from persistence.db import Database
from persistence.exams import attempts

log = logging.getLogger("livequiz.attempts")

#: Prefix of the lease's Redis key: whoever holds it sweeps this round.
LEASE_PREFIX = "livequiz:attempt-sweep:"
BATCH = 200  # attempts finished per query; a backlog is worked off in rounds of this
MAX_BATCHES = 10  # per sweep: the rest waits for the next round instead of holding the lease


class AttemptSweeper:
    def __init__(
        self, redis: Redis | RedisCluster, db: Database, *, interval_s: float, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock if clock is not None else SystemClock()  # the rounds (the lease is Redis's time)
        self.lease = RoundLease(redis, LEASE_PREFIX, db, interval_s)
        self.lease_key = self.lease.key

    async def run_once(self) -> int | None:
        """Finish the overdue attempts if this process wins this round's lease: how many it
        finished, or None when another process sweeps this round."""
        if not await self.lease.take():
            return None
        done = 0
        for _ in range(MAX_BATCHES):
            finished = await attempts.finish_overdue(self.db, limit=BATCH)
            done += finished
            if finished < BATCH:
                break
        if done:
            log.info("finished %d attempts past their deadline", done)
        return done

    async def run_forever(self) -> None:
        await every_round(self.clock, self.interval_s, self.run_once, log, "attempt deadline sweep failed")
