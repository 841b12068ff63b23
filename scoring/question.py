"""Scoring one closed question: outcomes per player, the answer distribution, new totals.

The gameserver closes a question exactly once, reads the recorded first answers from storage
and hands them here. Everything is a pure function of its arguments, so a process that takes
over a half-finished close recomputes exactly the same numbers and writing them again is
harmless.
"""

from __future__ import annotations

from collections.abc import Mapping

from scoring.models import Answer, Outcome, Totals
from scoring.points import points, time_taken_ms

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
    """
    outcomes: dict[str, Outcome] = {}
    for player_id, answer in answers.items():
        correct = answer.option == correct_option
        outcomes[player_id] = Outcome(
            answered=True,
            correct=correct,
            points=points(
                correct=correct,
                received_ms=answer.received_ms,
                deadline_ms=deadline_ms,
                time_limit_ms=time_limit_ms,
            ),
            time_ms=time_taken_ms(
                received_ms=answer.received_ms,
                deadline_ms=deadline_ms,
                time_limit_ms=time_limit_ms,
            ),
        )
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
    atomic step; the input mapping is never modified.
    """
    return {
        player_id: totals.get(player_id, Totals()).plus(outcome) for player_id, outcome in outcomes.items()
    }
