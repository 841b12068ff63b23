"""The points formula for one answer, in integers only.

Every process that scores a question must arrive at exactly the same number, whether it runs on
a laptop or a server, so the formula avoids floats: `round_half_up(1000 * r / T)` is computed as
`(2000 * r + T) // (2 * T)`, which is exact for any integer `r` and positive `T`.

    remaining_ms = deadline_ms - received_ms, clamped to [0, time_limit_ms]
    points       = round_half_up(1000 * remaining_ms / time_limit_ms)   if correct, else 0

Example from the rules: 12 s left of 20 s gives 600. The clamp means an answer that arrives
"before" the question opened (clock skew) scores at most 1000, and one after the deadline scores
0; whether a late answer is accepted at all is decided by the state machine, not here.
"""

from __future__ import annotations

__all__ = ["MAX_POINTS", "points", "remaining_ms", "time_taken_ms"]

#: The most a single question can give (a correct answer at the very first millisecond).
MAX_POINTS = 1000


def _check_time_limit(time_limit_ms: int) -> None:
    """A zero or negative limit would divide by zero or invert the formula: refuse it loudly,
    because it can only be a bug of the caller (quizzes are validated to 5-120 s)."""
    if time_limit_ms <= 0:
        raise ValueError(f"time_limit_ms must be positive, got {time_limit_ms}")


def remaining_ms(*, received_ms: int, deadline_ms: int, time_limit_ms: int) -> int:
    """Time left on the clock when the answer arrived, clamped to `[0, time_limit_ms]`.

    Shared by `points` and by the time-on-correct-answers tie-break, so both always agree on
    what "remaining" means.
    """
    _check_time_limit(time_limit_ms)
    return max(0, min(time_limit_ms, deadline_ms - received_ms))


def time_taken_ms(*, received_ms: int, deadline_ms: int, time_limit_ms: int) -> int:
    """How long the player took: `time_limit_ms - remaining_ms`, so also within `[0, limit]`.

    This is what the ranking tie-break adds up; clamping keeps one skewed clock from giving a
    player negative (or unbounded) time.
    """
    left = remaining_ms(received_ms=received_ms, deadline_ms=deadline_ms, time_limit_ms=time_limit_ms)
    return time_limit_ms - left


def points(*, correct: bool, received_ms: int, deadline_ms: int, time_limit_ms: int) -> int:
    """Points for one answer: 0 when wrong, else `round_half_up(1000 * remaining / limit)`.

    Keyword-only arguments because four ints in a row are too easy to swap by accident.
    The limit is validated even for a wrong answer so that a bad call fails the same way
    whatever the player chose.
    """
    left = remaining_ms(received_ms=received_ms, deadline_ms=deadline_ms, time_limit_ms=time_limit_ms)
    if not correct:
        return 0
    return (2 * MAX_POINTS * left + time_limit_ms) // (2 * time_limit_ms)
