"""The platform's request limits (PLATFORM.md, 000 §3), held in Redis so that they hold across
every server process: anonymous 30 a minute per IP, signed-in 60 a minute per user, the auth
endpoints (register, login, reset) 5 a minute per IP. Over: `429 rate_limited` + Retry-After.

A sliding-window counter: the current minute's count plus the previous minute's, weighted by
how much of it still lies inside the last 60 s. Unlike a fixed window it never lets twice the
limit through around a minute boundary, and it costs two small keys per client, one script
call per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis, RedisCluster

from gameserver.clock import Clock, SystemClock

# KEYS: current window counter, previous window counter.
# ARGV: limit, window_ms, elapsed_ms (time since the current window began).
# Returns {allowed (1/0), retry_after_ms}. Counts the request only when it is allowed.
SLIDING_WINDOW = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local weighted = previous * (window - elapsed) / window + current
if weighted + 1 > limit then
  local wait
  if current + 1 > limit or previous == 0 then
    wait = window - elapsed
  else
    -- the previous window's weight must fall until one more fits
    wait = math.ceil(window * (1 - (limit - 1 - current) / previous)) - elapsed
    if wait < 1 then wait = 1 end
  end
  return {0, wait}
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], window * 2)
return {1, 0}
"""


@dataclass(frozen=True)
class Limit:
    name: str
    per_minute: int  # 0: no limit


WINDOW_MS = 60_000


class RateLimiter:
    def __init__(
        self, redis: Redis | RedisCluster, *, anonymous: int = 30, signed_in: int = 60, auth: int = 5,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock if clock is not None else SystemClock()  # windows numbered by wall time
        self._script = redis.register_script(SLIDING_WINDOW)  # type: ignore[misc]  # typed for Redis; a cluster runs it too
        self.anonymous = Limit("anon", anonymous)
        self.signed_in = Limit("user", signed_in)
        self.auth = Limit("auth", auth)

    async def hit(self, limit: Limit, subject: str, now_ms: int | None = None) -> int | None:
        """Count one request of `subject` against `limit`: None when allowed, else the seconds
        to wait (Retry-After)."""
        if limit.per_minute <= 0:
            return None
        now_ms = self.clock.now_ms() if now_ms is None else now_ms
        window = now_ms // WINDOW_MS
        base = f"livequiz:rl:{{{limit.name}:{subject}}}:"  # one hash tag: both windows in one cluster slot
        allowed, wait_ms = await self._script(
            keys=[base + str(window), base + str(window - 1)],
            args=[limit.per_minute, WINDOW_MS, now_ms - window * WINDOW_MS],
        )
        return None if int(allowed) == 1 else max(1, math.ceil(int(wait_ms) / 1000))
