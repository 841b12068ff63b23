"""Tests of the pure scoring package: the points formula, per-question scoring and ranking."""

from __future__ import annotations

import itertools
import pickle
import random
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scoring import (
    NO_ANSWER,
    Answer,
    Outcome,
    Standing,
    Totals,
    apply_outcomes,
    distribution,
    leaderboard,
    podium,
    points,
    rank,
    results,
    score_question,
    you_final,
)

DEADLINE = 1_700_000_060_000  # a realistic epoch-ms deadline


def pts(remaining: int, limit: int, *, correct: bool = True) -> int:
    """Points for an answer with `remaining` ms left on a `limit` ms clock."""
    return points(
        correct=correct, received_ms=DEADLINE - remaining, deadline_ms=DEADLINE, time_limit_ms=limit
    )


# --- points -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remaining", "limit", "correct", "expected"),
    [
        (12_000, 20_000, True, 600),  # the rules' example
        (20_000, 20_000, True, 1000),  # instant answer
        (0, 20_000, True, 0),  # at the deadline millisecond
        (10_000, 20_000, True, 500),
        (1, 400, True, 3),  # 2.5 rounds half up to 3
        (3, 400, True, 8),  # 7.5 -> 8
        (1, 2000, True, 1),  # 0.5 -> 1
        (2, 5000, True, 0),  # 0.4 -> 0
        (3, 5000, True, 1),  # 0.6 -> 1
        (1, 3, True, 333),  # 333.33 -> 333
        (2, 3, True, 667),  # 666.67 -> 667
        (4_999, 10_000, True, 500),  # 499.9 -> 500
        (4_994, 10_000, True, 499),  # 499.4 -> 499
        (4_995, 10_000, True, 500),  # 499.5 -> 500
        (25_000, 20_000, True, 1000),  # received before the question opened: clamped
        (-1, 20_000, True, 0),  # one ms late: clamped to 0
        (-60_000, 20_000, True, 0),  # very late
        (12_000, 20_000, False, 0),  # wrong
        (20_000, 20_000, False, 0),  # wrong, however fast
    ],
)
def test_points_table(remaining: int, limit: int, correct: bool, expected: int) -> None:
    assert pts(remaining, limit, correct=correct) == expected


@pytest.mark.parametrize("limit", [0, -1, -20_000])
def test_points_refuses_non_positive_limit(limit: int) -> None:
    with pytest.raises(ValueError, match="time_limit_ms"):
        pts(0, limit)
    with pytest.raises(ValueError, match="time_limit_ms"):
        pts(0, limit, correct=False)


def _reference(remaining: int, limit: int) -> int:
    """round_half_up with exact fractions, as an independent oracle."""
    r = max(0, min(limit, remaining))
    value = Fraction(1000 * r, limit) + Fraction(1, 2)
    return value.numerator // value.denominator


@settings(max_examples=300, deadline=None)
@given(st.integers(-200_000, 200_000), st.integers(1, 120_000), st.booleans())
def test_points_bounded_and_exact(remaining: int, limit: int, correct: bool) -> None:
    got = pts(remaining, limit, correct=correct)
    assert isinstance(got, int)
    assert 0 <= got <= 1000
    assert got == (_reference(remaining, limit) if correct else 0)


@settings(max_examples=200, deadline=None)
@given(st.integers(-150_000, 150_000), st.integers(-150_000, 150_000), st.integers(1, 120_000))
def test_points_monotone_in_remaining_time(a: int, b: int, limit: int) -> None:
    low, high = sorted((a, b))
    assert pts(low, limit) <= pts(high, limit)


# --- one question -----------------------------------------------------------------------------


def test_score_question_outcomes() -> None:
    answers = {
        "fast": Answer(option=2, received_ms=DEADLINE - 12_000),
        "slow": Answer(option=2, received_ms=DEADLINE - 1),
        "wrong": Answer(option=0, received_ms=DEADLINE - 19_000),
        "late": Answer(option=2, received_ms=DEADLINE + 5),
    }
    out = score_question(answers, correct_option=2, deadline_ms=DEADLINE, time_limit_ms=20_000)
    assert out == {
        "fast": Outcome(answered=True, correct=True, points=600, time_ms=8_000),
        "slow": Outcome(answered=True, correct=True, points=0, time_ms=19_999),
        "wrong": Outcome(answered=True, correct=False, points=0, time_ms=1_000),
        "late": Outcome(answered=True, correct=True, points=0, time_ms=20_000),
    }
    assert score_question({}, correct_option=0, deadline_ms=DEADLINE, time_limit_ms=5_000) == {}


def test_distribution_counts_and_ignores_out_of_range() -> None:
    answers = {
        "a": Answer(0, 1),
        "b": Answer(2, 1),
        "c": Answer(2, 1),
        "d": Answer(4, 1),
        "e": Answer(-1, 1),
    }
    assert distribution(answers, 4) == [1, 0, 2, 0]
    assert distribution({}, 3) == [0, 0, 0]
    assert distribution(answers, 0) == []


def test_apply_outcomes_only_touches_players_with_outcomes() -> None:
    before = {"a": Totals(score=500, answers=1, correct=1, correct_time_ms=4_000), "b": Totals()}
    snapshot = dict(before)
    outcomes = {
        "a": Outcome(answered=True, correct=True, points=700, time_ms=3_000),
        "new": Outcome(answered=True, correct=False, points=0, time_ms=9_000),
        "idle": Outcome(answered=False, correct=False, points=0, time_ms=0),
    }
    after = apply_outcomes(before, outcomes)
    assert after == {
        "a": Totals(score=1200, answers=2, correct=2, correct_time_ms=7_000),
        "new": Totals(score=0, answers=1, correct=0, correct_time_ms=0),
        "idle": Totals(),
    }
    assert before == snapshot  # the input is never modified


@pytest.mark.parametrize(
    "kwargs",
    [
        {"answered": False, "correct": True, "points": 0, "time_ms": 0},
        {"answered": True, "correct": True, "points": 1001, "time_ms": 0},
        {"answered": True, "correct": False, "points": 10, "time_ms": 0},
        {"answered": True, "correct": True, "points": 10, "time_ms": -1},
    ],
)
def test_outcome_refuses_impossible_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Outcome(**kwargs)  # type: ignore[arg-type]


def test_totals_and_standing_refuse_impossible_values() -> None:
    with pytest.raises(ValueError):
        Totals(score=-1)
    with pytest.raises(ValueError):
        Totals(answers=1, correct=2)
    with pytest.raises(ValueError):
        Standing(rank=0, player_id="p", name="n", totals=Totals())


# --- ranking ----------------------------------------------------------------------------------


def t(score: int, time_ms: int = 0, answers: int = 3, correct: int = 1) -> Totals:
    return Totals(score=score, answers=answers, correct=correct, correct_time_ms=time_ms)


def test_competition_ranking_1_2_2_4() -> None:
    standings = rank([("d", "Dee", t(100)), ("b", "Bo", t(500)), ("a", "Al", t(900)), ("c", "Cy", t(500))])
    assert [s.rank for s in standings] == [1, 2, 2, 4]
    assert [s.totals.score for s in standings] == [900, 500, 500, 100]


def test_ties_ordered_by_time_then_name_then_id() -> None:
    standings = rank(
        [
            ("p1", "zed", t(800, time_ms=9_000)),
            ("p2", "Amy", t(800, time_ms=4_000)),
            ("p3", "bob", t(800, time_ms=9_000)),
            ("p5", "BOB", t(800, time_ms=9_000)),
            ("p4", "Bob", t(800, time_ms=9_000)),
        ]
    )
    assert [s.player_id for s in standings] == ["p2", "p3", "p4", "p5", "p1"]
    assert {s.rank for s in standings} == {1}


def test_all_zero_scores_share_rank_one() -> None:
    assert [s.rank for s in rank([(f"p{i}", f"n{i}", Totals()) for i in range(4)])] == [1, 1, 1, 1]
    assert rank([]) == []


def _field(players: int) -> list[Standing]:
    return rank([(f"p{i:02d}", f"Player {i:02d}", t(100 * i, answers=5, correct=2)) for i in range(players)])


def test_leaderboard_top_10_with_exact_fields() -> None:
    standings = _field(15)
    top = leaderboard(standings)
    assert len(top) == 10
    assert top[0] == {"rank": 1, "name": "Player 14", "score": 1400}
    assert all(set(line) == {"rank", "name", "score"} for line in top)
    assert leaderboard(standings, size=3) == top[:3]
    assert leaderboard(standings, size=0) == []
    assert len(leaderboard(_field(4))) == 4


def test_podium_results_and_you_final() -> None:
    standings = _field(5)
    assert podium(standings) == [
        {"rank": 1, "name": "Player 04", "score": 400, "answers": 5},
        {"rank": 2, "name": "Player 03", "score": 300, "answers": 5},
        {"rank": 3, "name": "Player 02", "score": 200, "answers": 5},
    ]
    assert len(podium(standings[:2])) == 2
    table = results(standings)
    assert len(table) == 5
    assert all(set(line) == {"rank", "name", "score", "answers", "correct"} for line in table)
    assert table[-1] == {"rank": 5, "name": "Player 00", "score": 0, "answers": 5, "correct": 2}
    assert you_final(standings[1]) == {"rank": 2, "score": 300, "answers": 5}


def test_podium_is_first_three_lines_even_with_a_tie_for_first() -> None:
    standings = rank([(f"p{i}", f"n{i}", t(500)) for i in range(5)])
    assert [line["rank"] for line in podium(standings)] == [1, 1, 1]


players_strategy = st.lists(
    st.tuples(
        st.text("abcXYZ", min_size=1, max_size=4),
        st.integers(0, 3000),
        st.integers(0, 60_000),
    ),
    max_size=25,
).map(
    lambda rows: [
        (f"id{i}", name, Totals(score=score, answers=3, correct=1, correct_time_ms=time_ms))
        for i, (name, score, time_ms) in enumerate(rows)
    ]
)


@settings(max_examples=150, deadline=None)
@given(players_strategy, st.randoms(use_true_random=False))
def test_rank_invariants(players: list[tuple[str, str, Totals]], rnd: random.Random) -> None:
    standings = rank(players)
    assert sorted(s.player_id for s in standings) == sorted(p[0] for p in players)
    scores = [s.totals.score for s in standings]
    assert scores == sorted(scores, reverse=True)
    for s in standings:
        assert s.rank == 1 + sum(1 for other in scores if other > s.totals.score)
    for a, b in itertools.pairwise(standings):
        assert a.rank <= b.rank
        assert (a.rank == b.rank) == (a.totals.score == b.totals.score)
        if a.rank == b.rank:
            assert a.totals.correct_time_ms <= b.totals.correct_time_ms
    if standings:
        assert standings[0].rank == 1
    shuffled = list(players)
    rnd.shuffle(shuffled)
    assert rank(shuffled) == standings  # deterministic whatever the input order


# --- the fast paths against the straightforward definitions -------------------------------------
#
# score_question, apply_outcomes and rank are written for speed at 10,000 players (inline
# formulas, values built without re-checking, a precomputed sort key). These slow references
# follow the documented definitions literally and build every value through its checking
# constructor; the fast code must give exactly the same values, in the same order.


def _reference_score_question(
    answers: dict[str, Answer], correct_option: int, deadline_ms: int, time_limit_ms: int
) -> dict[str, Outcome]:
    outcomes = {}
    for player_id, answer in answers.items():
        remaining = max(0, min(time_limit_ms, deadline_ms - answer.received_ms))
        correct = answer.option == correct_option
        outcomes[player_id] = Outcome(
            answered=True,
            correct=correct,
            points=_reference(remaining, time_limit_ms) if correct else 0,
            time_ms=time_limit_ms - remaining,
        )
    return outcomes


def _reference_apply_outcomes(totals: dict[str, Totals], outcomes: dict[str, Outcome]) -> dict[str, Totals]:
    updated = {}
    for player_id, outcome in outcomes.items():
        before = totals.get(player_id, Totals())
        updated[player_id] = Totals(
            score=before.score + outcome.points,
            answers=before.answers + (1 if outcome.answered else 0),
            correct=before.correct + (1 if outcome.correct else 0),
            correct_time_ms=before.correct_time_ms + (outcome.time_ms if outcome.correct else 0),
        )
    return updated


def _reference_rank(players: list[tuple[str, str, Totals]]) -> list[Standing]:
    ordered = sorted(players, key=lambda p: (-p[2].score, p[2].correct_time_ms, p[1].casefold(), p[0]))
    return [
        Standing(
            rank=1 + sum(1 for _, _, other in players if other.score > totals.score),
            player_id=player_id,
            name=name,
            totals=totals,
        )
        for player_id, name, totals in ordered
    ]


def _assert_same_values(got: object, expected: object) -> None:
    """Equal, and of exactly the same classes all the way down (equality alone checks that too)."""
    assert got == expected
    assert repr(got) == repr(expected)


@st.composite
def question_strategy(draw: st.DrawFn) -> tuple[int, int, dict[str, Answer]]:
    """A time limit, a deadline and answers whose remaining time often sits on the edges: the
    clamps (0 and the limit, one ms either side) and exact halves of the rounding."""
    limit = draw(st.sampled_from([1, 2, 3, 400, 2_000, 5_000, 20_000]) | st.integers(1, 120_000))
    deadline = draw(st.integers(0, 1_800_000_000_000))
    remaining = st.one_of(
        st.integers(0, limit),
        st.integers(-2, 2),
        st.integers(limit - 2, limit + 2),
        st.integers(-2 * limit - 5, 3 * limit + 5),
    )
    answers = draw(
        st.dictionaries(
            st.text("abcd", min_size=1, max_size=3),
            st.builds(lambda option, left: Answer(option, deadline - left), st.integers(-1, 5), remaining),
            max_size=30,
        )
    )
    return limit, deadline, answers


totals_strategy = st.builds(
    lambda score, correct, wrong, time_ms: Totals(
        score=score, answers=correct + wrong, correct=correct, correct_time_ms=time_ms
    ),
    st.integers(0, 10_000),
    st.integers(0, 10),
    st.integers(0, 10),
    st.integers(0, 1_200_000),
)


@settings(max_examples=400, deadline=None)
@given(
    question_strategy(),
    st.integers(0, 3),
    st.dictionaries(st.text("abcd", min_size=1, max_size=3), totals_strategy, max_size=30),
    st.sets(st.text("abcde", min_size=1, max_size=3), max_size=10),
)
def test_fast_scoring_equals_reference(
    question: tuple[int, int, dict[str, Answer]],
    correct_option: int,
    totals: dict[str, Totals],
    idle: set[str],
) -> None:
    limit, deadline, answers = question
    outcomes = score_question(answers, correct_option=correct_option, deadline_ms=deadline, time_limit_ms=limit)
    _assert_same_values(outcomes, _reference_score_question(answers, correct_option, deadline, limit))
    assert list(outcomes) == list(answers)
    for outcome in outcomes.values():
        assert Outcome(*outcome) == outcome  # valid, though built without the checks

    # The gameserver may add outcomes of its own for players who did not answer.
    outcomes = {**{p: NO_ANSWER for p in idle}, **outcomes}
    snapshot = dict(totals)
    updated = apply_outcomes(totals, outcomes)
    _assert_same_values(updated, _reference_apply_outcomes(totals, outcomes))
    assert list(updated) == list(outcomes)
    assert totals == snapshot
    for player_id, outcome in outcomes.items():
        assert updated[player_id] == totals.get(player_id, Totals()).plus(outcome)
        assert Totals(*updated[player_id]) == updated[player_id]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text("pq", min_size=1, max_size=2),  # ids repeat now and then: input order decides
            st.text("aAsStß", max_size=3),  # "ß" casefolds to "ss" (but sorts after "t" as is)
            st.integers(0, 2),
            st.integers(0, 1),
        ),
        max_size=30,
    ),
)
@example([("p", "ß", 1, 0), ("q", "st", 1, 0)])  # casefold, not lower(): "ss" < "st"
def test_fast_rank_equals_reference(rows: list[tuple[str, str, int, int]]) -> None:
    # Few distinct scores and times, so ties on score, time and folded name are common.
    players = [
        (player_id, name, Totals(score=100 * score, answers=1, correct=1, correct_time_ms=1000 * time))
        for player_id, name, score, time in rows
    ]
    standings = rank(iter(players))  # any iterable, read once
    _assert_same_values(standings, _reference_rank(players))
    for standing in standings:
        assert Standing(*standing) == standing  # valid, though built without the checks


def test_values_keep_dataclass_semantics() -> None:
    """The values are named tuples for speed, but compare, hash and refuse like frozen dataclasses."""
    totals = Totals(score=5, answers=2, correct=1, correct_time_ms=300)
    assert totals == Totals(5, 2, 1, 300)
    assert hash(totals) == hash(Totals(5, 2, 1, 300))
    assert repr(totals) == "Totals(score=5, answers=2, correct=1, correct_time_ms=300)"
    assert Totals() != NO_ANSWER  # type: ignore[comparison-overlap]  # equal items (False == 0), other kind
    assert Totals() != (0, 0, 0, 0)
    assert (0, 0, 0, 0) != Totals()
    assert not Totals() == (0, 0, 0, 0)
    with pytest.raises(TypeError):
        assert totals < Totals(6)
    with pytest.raises(AttributeError):
        totals.score = 6  # type: ignore[misc]
    with pytest.raises(ValueError):
        totals._replace(score=-1)
    assert totals._replace(score=6) == Totals(6, 2, 1, 300)
    assert pickle.loads(pickle.dumps(totals)) == totals
    assert bool(Totals())  # the gameserver writes `updated.get(p) or totals.get(p) or Totals()`
