"""Per-IP limits on game creation, PIN look-ups and joins, counted in Redis so that they hold
across every server process.

Without them one client scanned 7,500 PINs a second and filled a game with 10,000 bots before
a real student could join. The limits are sized for a whole class behind one school NAT (one
address for everyone): see `Settings.ip_*` and README's table.

- **joins** (`join` messages, `POST /api/games/{pin}/players`): each counts.
- **game creation** (`POST /api/games`): each counts.
- **PIN look-ups that miss** (`GET /api/games/{pin}` and sockets to `/ws/*/{pin}` for a PIN with
  no game): a class looking up its real PIN costs nothing, a scan is almost only misses. Once an
  address is over its budget, *every* look-up from it is refused until the window ends: were
  hits still answered, the refusals themselves would tell a scanner which PINs exist.

Over a limit: `429 rate_limited` with `Retry-After` (HTTP); a socket's `join` gets an `error`
`rate_limited` with `retry_after` and stays open; a socket to an unknown PIN from an address over
its look-up budget is refused at the handshake with HTTP 429 and `Retry-After`.

Counters are fixed windows (`INCR` + `PEXPIRE`, one round trip): a burst straddling a window
boundary may reach twice a limit for a moment, which these limits tolerate; a scan at any rate
still averages at most the limit per window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis, RedisCluster
from starlette.types import Scope

from gameserver import metrics
from gameserver.clock import Clock, SystemClock
from gameserver.settings import Settings
from statemachine.errors import RateLimited

if TYPE_CHECKING:
    from gameserver.context import LiveContext

# KEYS: the counter of this address, kind and window.
# ARGV: window length in ms (the key outlives its window by at most that).
# Returns the count, this use included.
COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class IpRateLimited(RateLimited):
    """An address went over one of its limits; `retry_after_s` says when it may try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        metrics.RATE_LIMITED.labels("ip").inc()  # made only to be raised: one per refusal


@dataclass(frozen=True)
class Budget:
    kind: str
    limit: int  # 0: no limit
    window_s: float


def client_ip(scope: Scope) -> str:
    """The address a request comes from. uvicorn has already put it in `scope["client"]`: the
    socket's peer, or, when that peer is one of `Settings.trusted_proxies`, the nearest address
    in its X-Forwarded-For that is not a proxy (`livequiz serve` passes the setting to uvicorn's
    `forwarded_allow_ips`); anyone else's X-Forwarded-For is ignored."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class IpLimits:
    """The three budgets of one server process, counted in the shared Redis."""

    def __init__(self, redis: Redis | RedisCluster, settings: Settings, clock: Clock | None = None) -> None:
        # Windows are numbered by wall time (every process counts in the same one); blocks
        # last on monotonic time.
        self.clock = clock if clock is not None else SystemClock()
        # One key per script call: on a Redis Cluster each address's counter has a slot of its own.
        self._count = redis.register_script(COUNT_IN_WINDOW)  # type: ignore[misc]  # typed for Redis; a cluster runs it too
        self.joins = Budget("join", settings.ip_join_limit, settings.ip_join_window_s)
        self.creates = Budget("create", settings.ip_create_limit, settings.ip_create_window_s)
        self.misses = Budget("miss", settings.ip_lookup_miss_limit, settings.ip_lookup_miss_window_s)
        # Addresses known to be over their look-up budget, with the monotonic time it ends: a
        # look-up from one is refused without asking Redis (and without telling hit from miss).
        self._blocked: dict[str, float] = {}

    def ip(self, scope: Scope) -> str:
        return client_ip(scope)

    async def charge(self, budget: Budget, ip: str) -> None:
        """Count one use of `budget` by `ip`; raises IpRateLimited when it is over."""
        if budget.limit <= 0:
            return
        window_ms = max(1, int(budget.window_s * 1000))
        now_ms = self.clock.now_ms()
        window = now_ms // window_ms
        count = await self._count(keys=[f"livequiz:ip:{budget.kind}:{ip}:{window}"], args=[window_ms])
        if int(count) > budget.limit:
            retry = max(1, math.ceil((window_ms - now_ms % window_ms) / 1000))  # until the next window
            if budget is self.misses:
                self._block(ip, retry)
            raise IpRateLimited(f"too many requests from your address; try again in {retry} s", retry)

    def check_lookup(self, ip: str) -> None:
        """Refuse any PIN look-up from an address over its miss budget (no Redis call)."""
        until = self._blocked.get(ip)
        if until is None:
            return
        left = until - self.clock.monotonic()
        if left <= 0:
            del self._blocked[ip]
            return
        raise IpRateLimited(f"too many unknown PINs from your address; try again in {math.ceil(left)} s",
                            max(1, math.ceil(left)))

    async def missed(self, ip: str) -> None:
        """A look-up from `ip` found no game: count it (raises IpRateLimited when over)."""
        await self.charge(self.misses, ip)

    def _block(self, ip: str, seconds: int) -> None:
        now = self.clock.monotonic()
        if len(self._blocked) > 10_000:  # bounded: forget the ones already over
            self._blocked = {k: v for k, v in self._blocked.items() if v > now}
        self._blocked[ip] = now + seconds


def ip_limits(live: LiveContext) -> IpLimits:
    """This process's limits (made on first use, kept with the process's other live state)."""
    limits = live.extras.get("ip_limits")
    if not isinstance(limits, IpLimits):
        limits = live.extras["ip_limits"] = IpLimits(live.redis, live.settings, live.clock)
    return limits
