"""The reveal event is exactly what the plain composition of the scoring functions gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gameserver.quizzes import Question
from gameserver.reveal import reveal_event
from scoring import Answer, Totals, apply_outcomes, distribution, leaderboard, rank, score_question

QUESTION = Question("q", ("a", "b", "c", "d"), 2, 10_000)
DEADLINE_MS = 50_000


def _reference(
    names: dict[str, str], recorded: dict[str, Answer], totals: dict[str, Totals]
) -> tuple[dict[str, Totals], dict[str, Any]]:
    """The reveal as it was built before `reveal_event`: a `Standing` per player, then `you`."""
    answers = {p: a for p, a in recorded.items() if p in names}
    outcomes = score_question(
        answers, correct_option=QUESTION.correct, deadline_ms=DEADLINE_MS, time_limit_ms=QUESTION.time_limit_ms
    )
    updated = apply_outcomes(totals, outcomes)
    standings = rank((p, name, updated.get(p) or totals.get(p) or Totals()) for p, name in names.items())
    you = {}
    for standing in standings:
        outcome = outcomes.get(standing.player_id)
        you[standing.player_id] = {
            "answered": outcome is not None,
            "correct": bool(outcome and outcome.correct),
            "points": outcome.points if outcome else 0,
            "score": standing.totals.score,
            "rank": standing.rank,
        }
    reveal = {"type": "reveal", "question": 1, "correct": 2, "distribution": distribution(answers, 4)}
    board = {"type": "leaderboard", "question": 1, "top": leaderboard(standings)}
    return updated, {"e": "msgs", "msgs": [{"msg": reveal, "you": you}, {"msg": board}]}


ids = st.sampled_from([f"p{i}" for i in range(14)])
totals_values = st.builds(
    lambda score, answers, correct, time: Totals(score, answers + correct, correct, time),
    st.integers(0, 3).map(lambda s: 500 * s),
    st.integers(0, 2),
    st.integers(0, 2),
    st.integers(0, 2).map(lambda t: 1000 * t),
)


@settings(max_examples=300, deadline=None)
@given(
    names=st.dictionaries(ids, st.sampled_from(["ann", "Ann", "bob", "ß", "ss"]), max_size=12),
    recorded=st.dictionaries(  # ids outside `names` are kicked players: their answers are void
        ids, st.builds(Answer, st.integers(0, 3), st.integers(DEADLINE_MS - 12_000, DEADLINE_MS + 500)), max_size=14
    ),
    totals=st.dictionaries(ids, totals_values, max_size=14),
)
def test_reveal_event_equals_the_plain_composition(
    names: dict[str, str], recorded: dict[str, Answer], totals: dict[str, Totals]
) -> None:
    updated, event = reveal_event(1, QUESTION, DEADLINE_MS, names, recorded, totals)
    expected_updated, expected_event = _reference(names, recorded, totals)
    assert updated == expected_updated
    assert event.to_dict() == expected_event
    assert list(event.items[0].you or {}) == list(expected_event["msgs"][0]["you"])  # best first, too


def test_reveal_event_of_a_small_game() -> None:
    names = {"a": "Ann", "b": "Bob", "c": "Cy", "k": "Kicked"}
    recorded = {
        "a": Answer(2, DEADLINE_MS - 5_000),  # right, half the time left: 500
        "b": Answer(1, DEADLINE_MS - 9_000),  # wrong
        "x": Answer(2, DEADLINE_MS - 9_000),  # not in the game any more
    }
    totals = {"b": Totals(700, 1, 1, 3_000)}
    updated, event = reveal_event(1, QUESTION, DEADLINE_MS, names, recorded, totals)
    assert updated == {"a": Totals(500, 1, 1, 5_000), "b": Totals(700, 2, 1, 3_000)}
    reveal, board = event.items
    assert reveal.msg == {"type": "reveal", "question": 1, "correct": 2, "distribution": [0, 1, 1, 0]}
    assert reveal.you == {
        "b": {"answered": True, "correct": False, "points": 0, "score": 700, "rank": 1},
        "a": {"answered": True, "correct": True, "points": 500, "score": 500, "rank": 2},
        "c": {"answered": False, "correct": False, "points": 0, "score": 0, "rank": 3},
        "k": {"answered": False, "correct": False, "points": 0, "score": 0, "rank": 3},
    }
    assert board.msg["top"] == [
        {"rank": 1, "name": "Bob", "score": 700},
        {"rank": 2, "name": "Ann", "score": 500},
        {"rank": 3, "name": "Cy", "score": 0},
        {"rank": 3, "name": "Kicked", "score": 0},
    ]
