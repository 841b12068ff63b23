"""The event that reveals a closed question: everyone's outcome, new score and rank.

A pure function of what the store read (players, the question's recorded first answers,
everyone's totals), so a process that takes over a half-finished close builds the same event.
It runs while every player of the game waits for the reveal (10,000 in a big game), so it
walks the players once in ranking order and builds each `you` there, instead of building a
`Standing` per player first (`scoring.rank_order` gives positions and ranks).
"""

from __future__ import annotations

from collections.abc import Mapping

from gameserver.envelopes import Message, Messages
from gameserver.quizzes import Question
from gameserver.wire_messages import Leaderboard, Reveal, RevealYou
from scoring import (
    LEADERBOARD_SIZE,
    NO_ANSWER,
    Answer,
    Standing,
    Totals,
    apply_outcomes,
    distribution,
    leaderboard,
    rank_order,
    score_question,
)

_NEW_PLAYER = Totals()


def reveal_event(
    question_index: int,
    question: Question,
    deadline_ms: int,
    names: Mapping[str, str],
    recorded: Mapping[str, Answer],
    totals: Mapping[str, Totals],
) -> tuple[dict[str, Totals], Messages]:
    """(the totals that change, the `msgs` event: the reveal with a `you` per player, then the
    leaderboard). Only players in `names` count: a kicked player's answer is void."""
    answers = {p: a for p, a in recorded.items() if p in names}
    outcomes = score_question(
        answers, correct_option=question.correct, deadline_ms=deadline_ms, time_limit_ms=question.time_limit_ms
    )
    updated = apply_outcomes(totals, outcomes)
    entries = [(p, name, updated.get(p) or totals.get(p) or _NEW_PLAYER) for p, name in names.items()]
    order, ranks = rank_order(entries)
    you: dict[str, RevealYou] = {}  # plain dicts: one per player, spliced in per socket
    get_outcome = outcomes.get
    for position, line_rank in zip(order, ranks, strict=True):
        player_id, _, player_totals = entries[position]
        outcome = get_outcome(player_id, NO_ANSWER)
        you[player_id] = {
            "answered": outcome.answered,
            "correct": outcome.correct,
            "points": outcome.points,
            "score": player_totals.score,
            "rank": line_rank,
        }
    top = [Standing(ranks[line], *entries[order[line]]) for line in range(min(LEADERBOARD_SIZE, len(order)))]
    reveal = Reveal(question_index, question.correct, tuple(distribution(answers, len(question.options))))
    board = Leaderboard(question_index, tuple(leaderboard(top)))
    return updated, Messages((Message(reveal.to_wire(), you=you), Message(board.to_wire())))
