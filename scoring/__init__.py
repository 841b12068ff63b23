"""Pure scoring for the quiz: the points formula, per-question outcomes, ranking and results.

Imports nothing else of ours (DESIGN.md dependency rule), does no I/O and uses integers only,
so every server process computes identical scores from the same recorded answers.

Note: `scoring.points` below is the *function*; the module of the same name stays reachable as
`sys.modules["scoring.points"]` or through `from scoring.points import ...`.
"""

from __future__ import annotations

from scoring.models import Answer, Outcome, Standing, Totals
from scoring.points import MAX_POINTS, points, remaining_ms, time_taken_ms
from scoring.question import NO_ANSWER, apply_outcomes, distribution, score_question
from scoring.ranking import (
    LEADERBOARD_SIZE,
    PODIUM_SIZE,
    FinalYou,
    LeaderboardLine,
    PodiumLine,
    ResultLine,
    leaderboard,
    podium,
    rank,
    rank_order,
    results,
    you_final,
)

__all__ = [
    "LEADERBOARD_SIZE",
    "MAX_POINTS",
    "NO_ANSWER",
    "PODIUM_SIZE",
    "Answer",
    "FinalYou",
    "LeaderboardLine",
    "Outcome",
    "PodiumLine",
    "ResultLine",
    "Standing",
    "Totals",
    "apply_outcomes",
    "distribution",
    "leaderboard",
    "podium",
    "points",
    "rank",
    "rank_order",
    "remaining_ms",
    "results",
    "score_question",
    "time_taken_ms",
    "you_final",
]
