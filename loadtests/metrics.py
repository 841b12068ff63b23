"""Pure helpers: percentiles, the points formula, the tolerance window of a score check."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of an already sorted sequence; None when empty.

    Nearest rank (no interpolation) so that p99 of a run is a latency some player really saw.
    """
    n = len(sorted_values)
    if n == 0:
        return None
    if p <= 0:
        return float(sorted_values[0])
    rank = math.ceil(p / 100.0 * n)
    return float(sorted_values[min(max(rank, 1), n) - 1])


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """{n, p50, p90, p99, max, mean} of a sample, values rounded to 0.01."""
    s = sorted(values)
    n = len(s)

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return {
        "n": n,
        "p50": r(percentile(s, 50)),
        "p90": r(percentile(s, 90)),
        "p99": r(percentile(s, 99)),
        "max": r(s[-1] if s else None),
        "mean": r(sum(s) / n if n else None),
    }


def round_half_up_div(num: int, den: int) -> int:
    """round_half_up(num / den) for non-negative integers, exact (no float)."""
    return (2 * num + den) // (2 * den)


def points(remaining_ms: float, time_limit_ms: int) -> int:
    """Points of a correct answer: round_half_up(1000 × remaining / limit), remaining clamped
    to [0, limit]. Fractional `remaining_ms` is floored to whole milliseconds, as the server
    works in integer milliseconds."""
    rem = math.floor(remaining_ms)
    rem = min(max(rem, 0), time_limit_ms)
    return round_half_up_div(1000 * rem, time_limit_ms)


def tolerance_points(tolerance_ms: float, time_limit_ms: int) -> int:
    """The stated tolerance in points: ceil(1000 × tolerance_ms / limit)."""
    return math.ceil(1000.0 * tolerance_ms / time_limit_ms)


def expected_window(
    deadline_ms: int,
    time_limit_ms: int,
    sent_ms: float,
    acked_ms: float | None,
    tolerance_ms: float,
) -> tuple[int, int, int]:
    """(expected, low, high) points of a correct answer.

    `expected` uses the player's own send time. The server stamps the answer somewhere between
    the send and the ack's arrival, so the window is [points(at ack), points(at send)] widened
    by the tolerance in points on both sides (clock granularity, rounding). Without an ack the
    window's low end is the tolerance below `expected`.
    """
    tol = tolerance_points(tolerance_ms, time_limit_ms)
    expected = points(deadline_ms - sent_ms, time_limit_ms)
    low_at = points(deadline_ms - acked_ms, time_limit_ms) if acked_ms is not None else expected
    return expected, max(0, low_at - tol), min(1000, expected + tol)


def strict_ok(
    got: int, correct: bool, deadline_ms: int, time_limit_ms: int, sent_ms: float, tolerance_ms: float
) -> bool:
    """The issue's check: the points the player expects from its own send time, within
    ±tolerance_points. Server-side lag before the answer is stamped shows up here."""
    if not correct:
        return got == 0
    expected = points(deadline_ms - sent_ms, time_limit_ms)
    return abs(got - expected) <= tolerance_points(tolerance_ms, time_limit_ms)


def score_ok(
    got: int,
    correct: bool,
    deadline_ms: int,
    time_limit_ms: int,
    sent_ms: float,
    acked_ms: float | None,
    tolerance_ms: float,
) -> bool:
    """Whether the server's `points` agree with the formula for some receive moment between the
    send and the ack (± tolerance): a failure here is a scoring bug, not lag."""
    if not correct:
        return got == 0
    _, low, high = expected_window(deadline_ms, time_limit_ms, sent_ms, acked_ms, tolerance_ms)
    return low <= got <= high
