"""Per-socket message rate bound: a token bucket with a strike count.

Rule when hit: the message is refused with `rate_limited` and not processed; after
`strikes` refused messages the socket is closed with 1008 (protocol abuse).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    __slots__ = ("burst", "monotonic", "per_s", "strikes", "strikes_left", "tokens", "updated")

    def __init__(
        self, per_s: float, burst: int, strikes: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_s = per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.monotonic = monotonic  # the process clock's (`Clock.monotonic`), bound once
        self.updated = monotonic()
        self.strikes = strikes
        self.strikes_left = strikes

    def allow(self) -> bool:
        now = self.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_s)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.strikes_left -= 1
        return False

    @property
    def abusive(self) -> bool:
        return self.strikes_left <= 0
