"""Each group's spent budget in Redis, so that a new leader keeps to what the old one spent.

The outbox's `RollingBudget` lives in the leading process, but Telegram counts a group's
operations whoever sends them: when the leader dies mid-minute, the process that takes over
must know what was spent in the last window, or its first minute could add a second 20 on top
of the first. So the outbox tells the chat's `ChatLedger` about every operation — `began`
before the request goes out (a leader that dies mid-request leaves it counted), `ended` when
its answer came back, `paused` on a 429 — and a new outbox `recall`s the ledger before its
first request, seeding its budget and its pause with it:

    telegram:{bot}:spent:{chat}  zset    "<owner>:<n>:<u|b>" -> when it ended (unix ms), +inf in flight
    telegram:{bot}:pause:{chat}  string  until when a 429 paused the chat (unix ms), PX the pause

Entries older than a window are trimmed on every write and the key expires two windows after
the last write, so a chat costs at most `limit` entries. An entry a dead leader left in flight
counts as ended at the moment it is recalled (its request reached Telegram by then, or never
will). Times are unix ms (`wall_ms`, the system's by default): the processes' clocks agree (one
machine, or NTP). Redis trouble never
holds up a send (it is logged): a leader that cannot reach Redis loses its lease anyway.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis, RedisCluster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recalled:
    """A chat's spending as another process left it: when each operation of the last window
    ended (unix seconds) and whether it was urgent; until when the chat is paused (0: not)."""

    ended: list[tuple[float, bool]]
    paused_until: float


class ChatLedger:
    def __init__(
        self, redis: Redis | RedisCluster, prefix: str, chat_id: int, window_s: float, owner: str,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.redis = redis
        self.wall_ms = wall_ms  # unix ms (a `gameserver.clock.Clock`'s `now_ms` fits)
        self.spent_key = f"{prefix}spent:{chat_id}"
        self.pause_key = f"{prefix}pause:{chat_id}"
        self.window_ms = math.ceil(window_s * 1000)
        self.owner = owner
        self._seq = itertools.count()

    async def began(self, urgent: bool) -> str | None:
        """An operation starts now: counted (as in flight) until `ended`. Its entry id."""
        slot_id = f"{self.owner}:{next(self._seq)}:{'u' if urgent else 'b'}"
        return slot_id if await self._write(slot_id, math.inf) else None

    async def ended(self, slot_id: str | None, at: float) -> None:
        """The operation's answer came back at `at` (unix seconds)."""
        if slot_id is not None:
            await self._write(slot_id, at * 1000)

    async def _write(self, slot_id: str, score_ms: float) -> bool:
        now_ms = self.wall_ms()
        try:
            # Not a MULTI: redis-py's cluster transaction blocks the event loop (a thread per
            # queued command; see gameserver/atomic.py). None is needed: the three commands are
            # idempotent on one key, and another writer's between them changes no outcome.
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self.spent_key, {slot_id: score_ms})
                pipe.zremrangebyscore(self.spent_key, "-inf", f"({now_ms - self.window_ms}")
                pipe.pexpire(self.spent_key, 2 * self.window_ms)
                await pipe.execute()
        except Exception:
            log.warning("could not record a Telegram operation in Redis", exc_info=True)
            return False
        return True

    async def paused(self, until: float) -> None:
        """A 429 paused the chat until `until` (unix seconds)."""
        until_ms = math.ceil(until * 1000)
        left_ms = until_ms - self.wall_ms()
        if left_ms <= 0:
            return
        try:
            await self.redis.set(self.pause_key, str(until_ms), px=left_ms)
        except Exception:
            log.warning("could not record a Telegram pause in Redis", exc_info=True)

    async def recall(self) -> Recalled:
        """What the last window spent, whoever spent it; entries left in flight end now."""
        now_ms = self.wall_ms()
        try:
            entries = await self.redis.zrangebyscore(self.spent_key, now_ms - self.window_ms, "+inf", withscores=True)
            pause = await self.redis.get(self.pause_key)
            in_flight = {member: now_ms for member, score in entries if math.isinf(score)}
            if in_flight:  # a dead leader's: count them from now, and say so for the next one
                await self.redis.zadd(self.spent_key, in_flight)
        except Exception:
            log.warning("could not read a Telegram chat's spent budget from Redis", exc_info=True)
            return Recalled([], 0.0)
        ended = [
            (min(score, now_ms) / 1000, _text(member).endswith(":u")) for member, score in entries
        ]
        return Recalled(ended, int(pause) / 1000 if pause is not None else 0.0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
