"""Scoring one closed question: outcomes per player, the answer distribution, new totals.

The gameserver closes a question exactly once, reads the recorded first answers from storage
and hands them here. Everything is a pure function of its arguments, so a process that takes
over a half-finished close recomputes exactly the same numbers and writing them again is
harmless.
"""

from __future__ import annotations

from collections.abc import Mapping

from scoring.models import _ZERO_TOTALS, Answer, Outcome, Totals, _trusted
from scoring.points import MAX_POINTS, _check_time_limit

__all__ = ["NO_ANSWER", "apply_outcomes", "distribution", "score_question"]

#: The outcome of a player who did not answer; handy for building `reveal.you` for everyone.
NO_ANSWER = Outcome(answered=False, correct=False, points=0, time_ms=0)


def score_question(
    answers: Mapping[str, Answer],
    *,
    correct_option: int,
    deadline_ms: int,
    time_limit_ms: int,
) -> dict[str, Outcome]:
    """One `Outcome` per player who answered, keyed by player id.

    Players without an answer are left out on purpose: the roster lives in the gameserver,
    which knows who is still in the game; it can use `NO_ANSWER` for the others. An answer
    that arrived after the deadline (it should have been refused) still counts as answered but
    scores 0, because `points` clamps the remaining time.

    Each outcome is exactly `points(...)` and `time_taken_ms(...)` of `scoring.points`, with the
    same integer formulas written out inline: this loop runs once per player (10,000 in a big
    game), so the limit is checked once, not twice per answer, and the outcomes, valid by
    construction, skip the checks of `Outcome` (see `scoring.models`).
    """
    if not answers:
        return {}
    _check_time_limit(time_limit_ms)
    limit = time_limit_ms
    twice_limit = 2 * limit
    twice_max = 2 * MAX_POINTS
    outcomes: dict[str, Outcome] = {}
    for player_id, (option, received_ms) in answers.items():
        left = deadline_ms - received_ms  # remaining_ms: clamped to [0, limit]
        if left < 0:
            left = 0
        elif left > limit:
            left = limit
        if option == correct_option:  # points: round_half_up(MAX_POINTS * left / limit)
            points = (twice_max * left + limit) // twice_limit
            outcomes[player_id] = _trusted(Outcome, (True, True, points, limit - left))
        else:
            outcomes[player_id] = _trusted(Outcome, (True, False, 0, limit - left))
    return outcomes


def distribution(answers: Mapping[str, Answer], option_count: int) -> list[int]:
    """How many players chose each option, in option order (the `reveal.distribution` field).

    Options outside `[0, option_count)` are ignored rather than raised on: they were refused
    as `invalid_option` when answered, and a reveal must never fail because of one bad record.
    """
    if option_count < 0:
        raise ValueError(f"option_count must not be negative, got {option_count}")
    counts = [0] * option_count
    for answer in answers.values():
        if 0 <= answer.option < option_count:
            counts[answer.option] += 1
    return counts


def apply_outcomes(totals: Mapping[str, Totals], outcomes: Mapping[str, Outcome]) -> dict[str, Totals]:
    """New totals for exactly the players in `outcomes`; a player missing from `totals` starts
    from zero.

    Returning only the changed players lets the gameserver write back just those entries in one
    atomic step; the input mapping is never modified. Each entry is `Totals.plus`, written out
    inline because this runs once per player.
    """
    get = totals.get
    updated: dict[str, Totals] = {}
    for player_id, (answered, correct, points, time_ms) in outcomes.items():
        before = get(player_id, _ZERO_TOTALS)
        if correct:  # a correct outcome is also answered
            score, count, right, right_time_ms = before
            updated[player_id] = _trusted(Totals, (score + points, count + 1, right + 1, right_time_ms + time_ms))
        elif answered:  # a wrong answer scores 0 (Outcome checks it)
            score, count, right, right_time_ms = before
            updated[player_id] = _trusted(Totals, (score, count + 1, right, right_time_ms))
        else:
            updated[player_id] = before
    return updated
