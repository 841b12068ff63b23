"""Tests of the pure game rules: every table row, guards, answer checks, names, and random runs."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import (
    TRANSITIONS,
    AllAnswered,
    CloseQuestion,
    DeadlinePassed,
    Effect,
    End,
    Event,
    FinishGame,
    GameState,
    Lock,
    LockChanged,
    Next,
    OpenQuestion,
    Phase,
    QuestionScored,
    Start,
    Unlock,
    check_answer,
    name_key,
    names,
    normalize_name,
    transition,
)
from statemachine.errors import (
    ClientError,
    Finished,
    IllegalTransition,
    NameInvalid,
    NotActive,
    TooLate,
    WrongQuestion,
)
from statemachine.text import graphemes, has_visible, refused_in_name

LIMITS = (10_000, 20_000, 30_000)
T0 = 1_700_000_000_000
NEW = GameState.new(LIMITS)


def run(state: GameState, *events: Event, now_ms: int = T0) -> tuple[GameState, list[Effect]]:
    """Apply events in order at one instant; collect all effects."""
    effects: list[Effect] = []
    for event in events:
        state, produced = transition(state, event, now_ms)
        effects.extend(produced)
    return state, effects


def active(question: int = 0) -> GameState:
    return replace(
        NEW,
        phase=Phase.ACTIVE,
        question=question,
        opened_ms=T0,
        deadline_ms=T0 + LIMITS[question],
        scored=question - 1,
        version=5,
    )


def between(question: int = 0, *, scored: bool = True) -> GameState:
    return replace(active(question), phase=Phase.BETWEEN, scored=question if scored else question - 1)


def finished(question: int = 1, *, scored: bool = True) -> GameState:
    return replace(between(question, scored=scored), phase=Phase.FINISHED)


def expect_refused(state: GameState, event: Event, error: type[ClientError], now_ms: int = T0) -> ClientError:
    before = replace(state)
    with pytest.raises(error) as info:
        transition(state, event, now_ms)
    assert state == before
    return info.value


# --- the table, row by row ----------------------------------------------------------------------


def test_waiting_start_opens_question_zero() -> None:
    state, effects = transition(NEW, Start(), T0)
    assert state == replace(
        NEW, phase=Phase.ACTIVE, question=0, opened_ms=T0, deadline_ms=T0 + 10_000, version=1
    )
    assert effects == (OpenQuestion(question=0, opened_ms=T0, deadline_ms=T0 + 10_000),)


@pytest.mark.parametrize("state", [NEW, active(1), between(1)], ids=["WAITING", "ACTIVE", "BETWEEN"])
@pytest.mark.parametrize(("event", "locked"), [(Lock(), True), (Unlock(), False)])
def test_lock_and_unlock_in_any_phase_but_finished(state: GameState, event: Event, locked: bool) -> None:
    for start in (replace(state, locked=True), replace(state, locked=False)):  # idempotent both ways
        new, effects = transition(start, event, T0)
        assert new == replace(start, locked=locked, version=start.version + 1)
        assert effects == (LockChanged(locked=locked),)


def test_active_next_closes_early() -> None:
    state, effects = transition(active(1), Next(), T0 + 1)
    assert state == replace(active(1), phase=Phase.BETWEEN, version=6)
    assert effects == (CloseQuestion(question=1),)


def test_active_deadline_passed_closes_only_at_or_after_the_deadline() -> None:
    deadline = active(0).deadline_ms
    error = expect_refused(active(0), DeadlinePassed(), IllegalTransition, now_ms=deadline - 1)
    assert "DeadlinePassed" in str(error) and "ACTIVE" in str(error)
    for now in (deadline, deadline + 5_000):
        state, effects = transition(active(0), DeadlinePassed(), now)
        assert (state.phase, state.version, effects) == (Phase.BETWEEN, 6, (CloseQuestion(question=0),))


def test_active_all_answered_closes_only_the_open_question() -> None:
    state, effects = transition(active(2), AllAnswered(question=2), T0)
    assert (state.phase, effects) == (Phase.BETWEEN, (CloseQuestion(question=2),))
    for stale in (0, 1, 3, -1):
        expect_refused(active(2), AllAnswered(question=stale), IllegalTransition)


def test_between_question_scored_once() -> None:
    state, effects = transition(between(1, scored=False), QuestionScored(question=1), T0)
    assert state == replace(between(1, scored=True), version=6)
    assert effects == ()
    expect_refused(state, QuestionScored(question=1), IllegalTransition)  # already scored
    expect_refused(between(1, scored=False), QuestionScored(question=0), IllegalTransition)
    expect_refused(between(1, scored=False), QuestionScored(question=2), IllegalTransition)


def test_between_next_waits_for_scoring() -> None:
    error = expect_refused(between(0, scored=False), Next(), IllegalTransition)
    assert "scoring in progress" in str(error)


def test_between_next_opens_the_next_question() -> None:
    state, effects = transition(between(0), Next(), T0 + 50_000)
    deadline = T0 + 50_000 + LIMITS[1]
    assert state == replace(
        between(0), phase=Phase.ACTIVE, question=1, opened_ms=T0 + 50_000, deadline_ms=deadline, version=6
    )
    assert effects == (OpenQuestion(question=1, opened_ms=T0 + 50_000, deadline_ms=deadline),)


def test_between_next_after_the_last_question_finishes() -> None:
    state, effects = transition(between(2), Next(), T0)
    assert state == replace(between(2), phase=Phase.FINISHED, version=6)
    assert effects == (FinishGame(),)


@pytest.mark.parametrize(
    ("state", "expected_effects"),
    [
        (NEW, (FinishGame(),)),
        (active(1), (CloseQuestion(question=1), FinishGame())),
        (between(1), (FinishGame(),)),
        (between(1, scored=False), (FinishGame(),)),
    ],
    ids=["WAITING", "ACTIVE", "BETWEEN", "BETWEEN-unscored"],
)
def test_end_from_any_phase(state: GameState, expected_effects: tuple[Effect, ...]) -> None:
    new, effects = transition(state, End(), T0)
    assert new == replace(state, phase=Phase.FINISHED, version=state.version + 1)
    assert effects == expected_effects


def test_finished_scores_a_question_ended_mid_way_once() -> None:
    state, _ = run(active(1), End())
    state, effects = transition(state, QuestionScored(question=1), T0)
    assert (state.phase, state.scored, effects) == (Phase.FINISHED, 1, ())
    expect_refused(state, QuestionScored(question=1), Finished)
    expect_refused(finished(1, scored=False), QuestionScored(question=0), Finished)
    ended_in_lobby, _ = run(NEW, End())
    expect_refused(ended_in_lobby, QuestionScored(question=-1), Finished)


ALL_EVENTS: list[Event] = [
    Start(),
    Next(),
    End(),
    DeadlinePassed(),
    AllAnswered(question=0),
    QuestionScored(question=0),
    Lock(),
    Unlock(),
]
SAMPLE_STATES = {
    Phase.WAITING: NEW,
    Phase.ACTIVE: active(0),
    Phase.BETWEEN: between(0),
    Phase.FINISHED: finished(0),
}


def test_table_covers_every_phase_and_only_known_events() -> None:
    assert set(TRANSITIONS) == set(Phase)
    known = {type(e) for e in ALL_EVENTS}
    assert all(set(row) <= known for row in TRANSITIONS.values())
    assert set(TRANSITIONS[Phase.FINISHED]) == {QuestionScored}
    with pytest.raises(TypeError):
        TRANSITIONS[Phase.WAITING][Next] = TRANSITIONS[Phase.ACTIVE][Next]  # type: ignore[index]


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: type(e).__name__)
def test_missing_rows_raise_and_name_phase_and_event(phase: Phase, event: Event) -> None:
    if type(event) in TRANSITIONS[phase]:
        return
    expected = Finished if phase is Phase.FINISHED else IllegalTransition
    error = expect_refused(SAMPLE_STATES[phase], event, expected)
    assert type(event).__name__ in str(error)
    if phase is not Phase.FINISHED:
        assert phase.value in str(error)
        assert error.code == "not_active"
    else:
        assert error.code == "finished"


# --- answers ------------------------------------------------------------------------------------


def test_check_answer() -> None:
    state = active(1)
    check_answer(state, 1, T0)
    check_answer(state, 1, state.deadline_ms)  # the deadline millisecond still counts
    assert state.accepts_answers_at(state.deadline_ms)
    with pytest.raises(TooLate) as late:
        check_answer(state, 1, state.deadline_ms + 1)
    assert late.value.question == 1 and late.value.code == "too_late"
    with pytest.raises(WrongQuestion) as wrong:
        check_answer(state, 0, T0)
    assert wrong.value.question == 0 and wrong.value.code == "wrong_question"
    for other in (NEW, between(1), finished(1)):
        with pytest.raises(NotActive):
            check_answer(other, 1, T0)
        assert not other.accepts_answers_at(T0)
    with pytest.raises(NotActive):  # phase is checked before the question
        check_answer(between(1), 0, T0 + 10**9)


# --- state and names ----------------------------------------------------------------------------


def test_state_coerces_stored_forms_and_refuses_impossible_ones() -> None:
    stored = GameState(question_count=2, time_limits_ms=[5_000, 6_000], phase="BETWEEN", question=1)  # type: ignore[arg-type]
    assert stored.time_limits_ms == (5_000, 6_000) and stored.phase is Phase.BETWEEN
    assert stored.is_last_question and stored.time_limit_ms == 6_000
    with pytest.raises(ValueError):
        _ = NEW.time_limit_ms
    for bad in (
        {"question_count": 0, "time_limits_ms": ()},
        {"question_count": 2, "time_limits_ms": (5_000,)},
        {"question_count": 1, "time_limits_ms": (0,)},
        {"question_count": 1, "time_limits_ms": (5_000,), "question": 1},
        {"question_count": 1, "time_limits_ms": (5_000,), "scored": 0},
        {"question_count": 1, "time_limits_ms": (5_000,), "phase": Phase.ACTIVE},
        {"question_count": 1, "time_limits_ms": (5_000,), "phase": "PAUSED"},
        {"question_count": 1, "time_limits_ms": (5_000,), "version": -1},
    ):
        with pytest.raises(ValueError):
            GameState(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Anna", "Anna"),
        ("  Anna   Lee \n", "Anna Lee"),
        ("Anna\tLee", "Anna Lee"),
        ("Anna\u00a0\u00a0Lee", "Anna Lee"),
        ("Jose\u0301", "Jos\u00e9"),  # NFC
        ("x" * 24, "x" * 24),
        ("  " + "y" * 24 + "  ", "y" * 24),
        ("Ярослав 🎉", "Ярослав 🎉"),
    ],
)
def test_normalize_name_accepts(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "string"),
        (42, "string"),
        (b"Anna", "string"),
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 25, "at most 24"),
        ("Anna\u200bLee", "control or format"),  # zero-width space (Cf)
        ("Anna\u202eLee", "control or format"),  # right-to-left override (Cf)
        ("Anna\x00", "control or format"),
        ("Anna\x07Lee", "control or format"),
        ("\ue000", "control or format"),  # private use (Co)
    ],
)
def test_normalize_name_refuses(raw: object, fragment: str) -> None:
    with pytest.raises(NameInvalid, match=fragment) as info:
        normalize_name(raw)
    assert info.value.code == "name_invalid"


def test_names_of_one_code_point_graphemes_take_the_short_path_safely() -> None:
    """`normalize_name` skips the grapheme segmentation for names made of the characters its
    pattern lists: for each of them, the full checks must find only a length (one grapheme
    per code point, nothing refused, something drawn), or the short path would accept what
    they refuse."""
    pattern = names._ONE_CODE_POINT_GRAPHEMES
    fast = [chr(c) for c in range(0x110000) if pattern.fullmatch(chr(c)) and chr(c).isprintable()]
    assert max(map(ord, fast)) < 0x530 and len(fast) > 1000
    for char in fast:
        for name in (char, f"a{char}b", f"{char}{char}"):
            if not name.strip():
                continue
            assert len(graphemes(name)) == len(name), repr(name)
            assert all(refused_in_name(g) is None for g in graphemes(name)), repr(name)
            assert has_visible(name), repr(name)
    # And at the edges the two paths agree: a combining mark (not in the pattern) is one grapheme
    # with its letter, so 24 letters with an accent each are still 24.
    assert normalize_name("e\u0308" * 24) == "\u00eb" * 24
    assert normalize_name("и\u0306" * 24) == "й" * 24  # NFC composes it into the pattern
    assert normalize_name("Ж\u0483" * 24) == "Ж\u0483" * 24  # a Cyrillic titlo: the long path
    with pytest.raises(NameInvalid, match="at most 24"):
        normalize_name("Ж\u0483" * 25)


def test_name_key_is_case_insensitive() -> None:
    assert name_key("ANNA") == name_key("anna") == name_key("Anna")
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("Anna") != name_key("Anne")


# --- random runs --------------------------------------------------------------------------------

# A step is (event kind, question or None, ms elapsed). None means "the state's current question",
# resolved while running, so that AllAnswered / QuestionScored often hit the question that matters
# and random runs get deep into the game instead of being refused at the first step; explicit
# numbers still cover stale and future questions. End is listed once among many and runs have at
# least 5 steps, so that most runs get past the first question.
# Weights by repetition: sampled_from picks each list entry equally often.
KINDS = (
    ["next"] * 6 + ["scored"] * 5 + ["all"] * 3 + ["start"] * 3 + ["deadline"] * 2 + ["lock", "unlock", "end"]
)
steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.one_of(st.none(), st.integers(-1, len(LIMITS))),
        st.integers(0, 35_000),
    ),
    min_size=5,
    max_size=60,
)


def make_event(kind: str, question: int | None, state: GameState) -> Event:
    q = state.question if question is None else question
    simple: dict[str, Event] = {
        "start": Start(),
        "next": Next(),
        "deadline": DeadlinePassed(),
        "lock": Lock(),
        "unlock": Unlock(),
        "end": End(),
    }
    if kind == "all":
        return AllAnswered(question=q)
    if kind == "scored":
        return QuestionScored(question=q)
    return simple[kind]


def random_walk(rnd: random.Random, length: int = 80) -> list[tuple[str, int | None, int]]:
    """A long walk with true random draws: Hypothesis's own draws favour short, repetitive lists
    that rarely get past the first question, so this complements `steps` with deep games."""
    return [
        (
            rnd.choice(KINDS),
            None if rnd.random() < 0.8 else rnd.randint(-1, len(LIMITS)),
            rnd.choice([0, rnd.randint(0, 12_000), rnd.randint(0, 35_000)]),
        )
        for _ in range(length)
    ]


@settings(max_examples=200, deadline=None)
@given(steps)
def test_random_event_sequences_keep_the_invariants(sequence: list[tuple[str, int | None, int]]) -> None:
    check_run(sequence)


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=True))
def test_long_random_walks_keep_the_invariants(rnd: random.Random) -> None:
    check_run(random_walk(rnd))


def check_run(sequence: list[tuple[str, int | None, int]]) -> GameState:
    """Play `sequence` from a new game, asserting every invariant after every step."""
    state, now = NEW, T0
    closes: Counter[int] = Counter()
    scorings: Counter[int] = Counter()
    opened: list[int] = []
    finishes = 0
    for kind, question, dt in sequence:
        now += dt
        event = make_event(kind, question, state)
        before = replace(state)
        try:
            new, effects = transition(state, event, now)
        except (IllegalTransition, Finished) as error:
            assert state == before  # nothing changed
            assert isinstance(error, Finished) == (state.phase is Phase.FINISHED)
            continue
        assert new.phase in TRANSITIONS
        assert type(event) in TRANSITIONS[state.phase]
        assert new.version == state.version + 1
        assert new.question_count == state.question_count and new.time_limits_ms == state.time_limits_ms
        assert -1 <= new.scored <= new.question
        if isinstance(event, QuestionScored):
            scorings[event.question] += 1
        for effect in effects:
            if isinstance(effect, CloseQuestion):
                closes[effect.question] += 1
                assert effect.question == state.question and state.phase is Phase.ACTIVE
            elif isinstance(effect, OpenQuestion):
                opened.append(effect.question)
                assert new.scored == effect.question - 1  # the previous question was fully scored
                assert effect.deadline_ms == now + LIMITS[effect.question]
            elif isinstance(effect, FinishGame):
                finishes += 1
                assert new.phase is Phase.FINISHED
            else:
                assert effect == LockChanged(locked=new.locked)
        state = new
    assert all(count <= 1 for count in closes.values())
    assert all(count <= 1 for count in scorings.values())
    assert set(scorings) <= set(closes)  # only closed questions are scored
    assert opened == list(range(len(opened)))  # questions open once each, in order
    assert finishes <= 1 and (finishes == 1) == (state.phase is Phase.FINISHED)
    return state


@st.composite
def full_games(draw: st.DrawFn) -> tuple[tuple[int, ...], list[str], list[int]]:
    limits = tuple(draw(st.lists(st.integers(5_000, 120_000), min_size=1, max_size=6)))
    closers = draw(
        st.lists(st.sampled_from(["next", "deadline", "all"]), min_size=len(limits), max_size=len(limits))
    )
    delays = draw(st.lists(st.integers(0, 200_000), min_size=len(limits), max_size=len(limits)))
    return limits, closers, delays


@settings(max_examples=100, deadline=None)
@given(full_games())
def test_a_full_game_reaches_finished(game: tuple[tuple[int, ...], list[str], list[int]]) -> None:
    limits, closers, delays = game
    state, now = GameState.new(limits), T0
    all_effects: list[Effect] = []

    def step(event: Event) -> None:
        nonlocal state
        state, effects = transition(state, event, now)
        all_effects.extend(effects)

    step(Start())
    for q, (closer, delay) in enumerate(zip(closers, delays, strict=True)):
        if closer == "deadline":
            now = state.deadline_ms + delay
            step(DeadlinePassed())
        else:
            now += delay
            step(Next() if closer == "next" else AllAnswered(question=q))
        step(QuestionScored(question=q))
        now += 1_000
        step(Next())
    assert state.phase is Phase.FINISHED
    assert state.version == 1 + 3 * len(limits)
    assert [e for e in all_effects if isinstance(e, CloseQuestion)] == [
        CloseQuestion(q) for q in range(len(limits))
    ]
    assert [type(e) for e in all_effects].count(OpenQuestion) == len(limits)
    assert all_effects[-1] == FinishGame()
