"""Housekeeping: rows that serve nobody any more are deleted, by one process a round.

What goes and when is `persistence.housekeeping` (ended tokens after 30 days, Telegram link
codes a day after they expire, wallet idempotency keys after 24 h; never a money row). Every
serving process runs this loop: each `interval_s` (an hour by default,
`LIVEQUIZ_HOUSEKEEPING_INTERVAL_S`) it tries to take the database's round lease
(`round_lease`); the one that gets it purges, in short batched transactions. Two rounds
overlapping are harmless: a row deleted twice is deleted once.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis, RedisCluster

from gameserver.clock import Clock, SystemClock
from gameserver.platform.round_lease import RoundLease, every_round
from persistence import housekeeping
from persistence.db import Database

log = logging.getLogger("livequiz.housekeeping")

LEASE_PREFIX = "livequiz:housekeeping:"
FIRST_ROUND_S = 60.0


class Housekeeping:
    def __init__(
        self, redis: Redis | RedisCluster, db: Database, *, interval_s: float, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock if clock is not None else SystemClock()
        self.lease = RoundLease(redis, LEASE_PREFIX, db, interval_s)

    async def run_once(self) -> housekeeping.Purged | None:
        """Purge if this process wins this round's lease: what went, or None when another
        process keeps house this round."""
        if not await self.lease.take():
            return None
        purged = await housekeeping.purge_ended(self.db)
        if purged.total:
            log.info(
                "housekeeping deleted %d ended tokens, %d link codes, %d idempotency keys",
                purged.tokens, purged.link_codes, purged.idempotency_keys,
            )
        return purged

    async def run_forever(self) -> None:
        # The first round soon after start, not an interval later: a fleet restarted more
        # often than hourly (each deploy) must still keep house.
        first = min(FIRST_ROUND_S, self.interval_s)
        await every_round(self.clock, self.interval_s, self.run_once, log, "housekeeping failed", first_s=first)
