"""The pure rules added for the live engine's hardening: a `next` naming its step or repeating
the last one, answers before the question opened or during its lead-in."""

from __future__ import annotations

import pytest

from statemachine import (
    Event,
    GameState,
    Next,
    OpenQuestion,
    Phase,
    QuestionScored,
    Start,
    check_answer,
    is_repeated_next,
    transition,
)
from statemachine.errors import IllegalTransition, NotActive, NotOpen, TooLate

T0 = 1_700_000_000_000
WINDOW = 1_000


def at(state: GameState, event: Event, now: int) -> GameState:
    new, _ = transition(state, event, now)
    return new


def started(lead_in_ms: int = 0) -> GameState:
    return at(GameState.new((10_000, 20_000, 30_000), lead_in_ms=lead_in_ms), Start(), T0)


def between_after_next(now: int = T0 + 5_000) -> GameState:
    """Question 0 closed by a `next` at `now`, not yet scored."""
    return at(started(), Next(), now)


def test_a_next_naming_another_question_or_phase_changes_nothing() -> None:
    state = started()
    for event in (Next(question=1), Next(question=0, phase=Phase.BETWEEN), Next(question=-1, phase=Phase.ACTIVE)):
        with pytest.raises(IllegalTransition):
            transition(state, event, T0 + 5_000)
    closed = at(state, Next(question=0, phase=Phase.ACTIVE), T0 + 5_000)
    assert closed.phase is Phase.BETWEEN and closed.next_ms == closed.changed_ms == T0 + 5_000
    with pytest.raises(IllegalTransition):  # the same intent again, however late
        transition(closed, Next(question=0, phase=Phase.ACTIVE), T0 + 60_000)


def test_a_phaseless_next_that_would_close_the_question_a_next_just_opened_is_a_repeat() -> None:
    scored = at(between_after_next(), QuestionScored(0), T0 + 5_010)
    opened = at(scored, Next(repeat_window_ms=WINDOW, received_ms=T0 + 8_000), T0 + 8_000)
    assert opened.phase is Phase.ACTIVE and opened.question == 1
    repeat = Next(repeat_window_ms=WINDOW, received_ms=T0 + 8_000 + WINDOW - 1)
    assert is_repeated_next(opened, repeat, T0 + 8_000 + WINDOW - 1)
    with pytest.raises(IllegalTransition):
        transition(opened, repeat, T0 + 8_000 + WINDOW - 1)
    later = Next(repeat_window_ms=WINDOW, received_ms=T0 + 8_000 + WINDOW)
    assert at(opened, later, T0 + 8_000 + WINDOW).phase is Phase.BETWEEN
    assert at(opened, Next(), T0 + 8_001).phase is Phase.BETWEEN  # no window: as in v1


def test_a_question_opened_by_start_or_closed_by_its_deadline_is_no_next_to_repeat() -> None:
    state = started()
    assert not is_repeated_next(state, Next(repeat_window_ms=WINDOW), T0 + 10)
    assert at(state, Next(repeat_window_ms=WINDOW), T0 + 10).phase is Phase.BETWEEN


def test_a_phaseless_next_before_the_reveal_it_would_skip_is_a_repeat() -> None:
    closed = between_after_next(T0 + 5_000)
    assert is_repeated_next(closed, Next(repeat_window_ms=WINDOW), T0 + 5_100)  # not scored yet
    scored = GameState(**{**closed.__dict__, "scored": 0, "scored_ms": T0 + 5_050})
    sent_before_reveal = Next(repeat_window_ms=WINDOW, received_ms=T0 + 5_020)
    assert is_repeated_next(scored, sent_before_reveal, T0 + 5_060)
    sent_after_reveal = Next(repeat_window_ms=WINDOW, received_ms=T0 + 5_200)
    assert not is_repeated_next(scored, sent_after_reveal, T0 + 5_200)
    assert at(scored, sent_after_reveal, T0 + 5_200).question == 1


@pytest.mark.parametrize("lead_in_ms", [0, 4_000])
def test_answers_count_only_from_when_they_open_until_the_deadline(lead_in_ms: int) -> None:
    state = started(lead_in_ms)
    opens = T0 + lead_in_ms
    assert state.opens_ms == opens and state.deadline_ms == opens + 10_000
    _, effects = transition(GameState.new((10_000,), lead_in_ms=lead_in_ms), Start(), T0)
    assert effects == (OpenQuestion(0, T0, opens + 10_000, lead_in_ms),) and effects[0].opens_ms == opens
    with pytest.raises(NotActive):
        check_answer(state, 0, T0 - 1)  # read before the question was shown
    if lead_in_ms:
        with pytest.raises(NotOpen):
            check_answer(state, 0, opens - 1)
        assert not state.accepts_answers_at(opens - 1)
    check_answer(state, 0, opens)
    check_answer(state, 0, state.deadline_ms)
    with pytest.raises(TooLate):
        check_answer(state, 0, state.deadline_ms + 1)


def test_scores_are_owed_only_by_a_closed_question_not_yet_scored() -> None:
    """`owes_scores` is exactly when the rules accept `QuestionScored` for the current question:
    the service asks it before loading answers, and the transition decides the same."""
    from statemachine import End
    from statemachine.errors import Finished

    lobby = GameState.new((10_000, 20_000))
    closed = between_after_next()
    scored = at(closed, QuestionScored(0), T0 + 5_040)
    ended_mid_question = at(started(), End(), T0 + 1_000)
    ended_in_lobby = at(lobby, End(), T0)
    for state, owed in [
        (lobby, False), (started(), False), (closed, True), (scored, False),
        (ended_mid_question, True), (ended_in_lobby, False),
    ]:
        assert state.owes_scores is owed
        try:
            transition(state, QuestionScored(state.question), T0 + 6_000)
            accepted = True
        except (IllegalTransition, Finished):
            accepted = False
        assert accepted is owed
    assert scored.scored == 0 and scored.scored_ms == T0 + 5_040  # when its reveal went out
