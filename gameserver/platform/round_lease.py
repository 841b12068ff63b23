"""One process a round: a lease in Redis that the serving processes race for.

Background work on the shared database (finishing overdue attempts, housekeeping) needs doing
once per round, not once per process. Each round every process tries `SET key holder NX PX
round`: the one that gets it works this round, the others skip it. A process that dies holding
the lease only delays the next round to the lease's end; two rounds overlapping (a slow one
outliving its lease) must be harmless to the work itself.

The lease is per database: processes sharing a Redis but not a database (tests do) must not skip
each other's rounds. The database URL is hashed into the key, never stored (it may hold a
password).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis, RedisCluster

from gameserver.clock import Clock
from persistence.db import Database


class RoundLease:
    def __init__(self, redis: Redis | RedisCluster, prefix: str, db: Database, round_s: float) -> None:
        self.redis = redis
        self.round_ms = max(1, int(round_s * 1000))
        self.holder = secrets.token_hex(8)  # this process, as the lease's value (for debugging)
        where = hashlib.sha256(f"{db.url}|{db.schema or ''}".encode()).hexdigest()[:16]
        self.key = prefix + where

    async def take(self) -> bool:
        """Whether this process works this round."""
        return bool(await self.redis.set(self.key, self.holder, nx=True, px=self.round_ms))


async def every_round(
    clock: Clock, interval_s: float, run_once: Callable[[], Awaitable[object]], log: logging.Logger,
    failure: str, *, first_s: float | None = None,
) -> None:
    """Run `run_once` every `interval_s` of `clock` (the first time after `first_s`, if given),
    forever; a round that fails is logged as `failure` and the next one comes as planned."""
    delay = interval_s if first_s is None else first_s
    while True:
        await clock.sleep(delay)
        delay = interval_s
        try:
            await run_once()
        except Exception:
            log.exception(failure)
