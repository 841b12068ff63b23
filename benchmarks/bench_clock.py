"""White-box: what the process clock costs a received message, in ns.

`python -m benchmarks.bench_clock --rounds 15` times, in one process and in alternating
rounds, the two per-message uses of the clock on the socket path: the receive stamp
(`wsprotocol._offer`: decode, stamp, hand to the fast path) and the token bucket
(`RateLimiter.allow`). Each runs as the server runs it (`SystemClock`, whose `wall_ns` and
`monotonic` are `time.time_ns` and `time.monotonic` themselves, bound once), with a clock whose
methods are Python functions (what a wrapper would cost: the call layer `SystemClock` avoids),
and the stamp as it was before the clock (`time.time_ns()` inline). The best and the median
round are printed (on a busy machine the best is the steadier figure).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from gameserver import wsprotocol
from gameserver.clock import SystemClock
from gameserver.ratelimit import RateLimiter

ANSWER = b'{"type":"answer","question":3,"option":1}'


class WrappedClock(SystemClock):
    """The same clock behind a Python call each (the layer the real one does not have)."""

    def wall_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


def _take(message: str | bytes, received_ms: int) -> bool:
    return True


def offer_before_the_clock(fast: wsprotocol.FastPath, data: bytes, *, text: bool) -> bool:
    """`wsprotocol._offer` as it was before the process clock: `time.time_ns()` inline."""
    try:
        message: str | bytes = data.decode() if text else data
    except UnicodeDecodeError:
        return False
    return bool(message) and fast(message, time.time_ns() // 1_000_000)


def per_call_ns(work: Callable[[], object], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        work()
    return (time.perf_counter_ns() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    clocks = {"system": SystemClock(), "wrapped": WrappedClock()}
    limiters = {name: RateLimiter(1e9, 10**9, 5, clock.monotonic) for name, clock in clocks.items()}
    results: dict[str, list[float]] = {}
    offer = wsprotocol._offer  # the module's stamp, as a socket's read callback calls it
    for _ in range(args.rounds):
        for name, clock in clocks.items():
            wsprotocol.stamp_with(clock)
            stamp_ns = per_call_ns(lambda: offer(_take, ANSWER, text=True), args.calls)
            results.setdefault(f"stamp ({name})", []).append(stamp_ns)
            limiter = limiters[name]
            results.setdefault(f"token bucket ({name})", []).append(per_call_ns(limiter.allow, args.calls))
        results.setdefault("stamp (time.time_ns inline, before)", []).append(
            per_call_ns(lambda: offer_before_the_clock(_take, ANSWER, text=True), args.calls)
        )
    wsprotocol.stamp_with(SystemClock())
    for label, values in results.items():
        best, median = min(values), statistics.median(values)
        print(f"{label:36} best {best:5.0f} ns, median {median:5.0f} ns a message ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
