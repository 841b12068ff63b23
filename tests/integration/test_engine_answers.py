"""When an answer counts: never stamped before its question was shown (issue 15 item 9), never
during the question's "get ready" lead-in, points from when answers open (issue 17 item 5).
The Lua guard refuses exactly what the pure guard refuses; real Redis, real server processes.
The lead-in's points, on the service's clock: test_service_time.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from gameserver.envelopes import Messages
from gameserver.keys import GameKeys
from gameserver.quizzes import Question, Quiz
from gameserver.store import GameStore, token_digest
from statemachine import Event, GameState, Next, QuestionScored, Start, check_answer, transition
from statemachine.errors import NotActive, NotOpen
from tests.support import ServerProcess, quiz

LIMIT_MS = 10_000
T0 = 1_700_000_000_000


@pytest.fixture
async def store(embedded_redis_url: str) -> AsyncIterator[GameStore]:
    redis = Redis.from_url(embedded_redis_url)
    yield GameStore(redis, game_ttl_s=600, results_ttl_s=900)
    await redis.aclose()


async def opened_game(store: GameStore, pin: str, lead_in_ms: int, question: int = 0) -> GameState:
    """A game of two questions with `question` open since T0 (its lead-in from there)."""
    quiz_ = Quiz("t", (Question("q0", ("a", "b"), 0, LIMIT_MS), Question("q1", ("a", "b"), 1, LIMIT_MS)), lead_in_ms)
    await store.redis.delete(*GameKeys(pin).all_keys(2))
    assert await store.create_game(pin, quiz_, token_digest("host"), 1_000)
    record = await store.load(pin)
    assert record is not None and record.state.lead_in_ms == lead_in_ms
    state = record.state
    steps: list[tuple[Event, int]] = [(Start(), T0)]
    if question == 1:
        steps = [(Start(), T0 - 50_000), (Next(), T0 - 40_000), (Next(), T0)]
    for event, at in steps:
        if state.phase.value == "BETWEEN":
            scored, _ = transition(state, QuestionScored(state.question), at)
            assert await store.apply_scores(pin, state, scored, {}, Messages(()))
            state = scored
        new, _ = transition(state, event, at)
        assert await store.commit(pin, state, new, None)
        state = new
    loaded = await store.load(pin)
    assert loaded is not None and loaded.state == state
    return state


@pytest.mark.parametrize("question", [0, 1])
@pytest.mark.parametrize("lead_in_ms", [0, 3_000])
@pytest.mark.parametrize(
    "offset_ms", [-60_000, -1, 0, 1, 2_999, 3_000, 3_001, LIMIT_MS - 1, LIMIT_MS, LIMIT_MS + 3_000, LIMIT_MS + 3_001]
)
async def test_the_answer_script_refuses_what_the_pure_guard_refuses_around_the_opening(
    store: GameStore, question: int, lead_in_ms: int, offset_ms: int
) -> None:
    pin = "424260"
    state = await opened_game(store, pin, lead_in_ms, question)
    received = T0 + offset_ms
    try:
        check_answer(state, question, received)
        expected: type[Exception] | None = None
    except Exception as error:
        expected = type(error)
    try:
        await store.answer_soon(pin, "p1", question, 0, received)
        got: type[Exception] | None = None
    except Exception as error:
        got = type(error)
    assert got == expected
    assert (await store.has_answered(pin, question, "p1")) == (expected is None)


async def test_an_answer_stamped_before_its_question_opened_is_refused(store: GameStore) -> None:
    """A frame read just before `next` opened the question, handled just after: it would
    have scored more than the question allows from before it existed."""
    state = await opened_game(store, "424261", 0, question=1)
    with pytest.raises(NotActive):
        check_answer(state, 1, T0 - 1)
    with pytest.raises(NotActive):
        await store.answer_soon("424261", "p1", 1, 1, T0 - 1)
    assert not await store.has_answered("424261", 1, "p1")
    assert await store.answer_soon("424261", "p1", 1, 1, T0) == (1, 0)  # from the opening ms on


async def test_answers_during_the_lead_in_are_refused_not_open(store: GameStore) -> None:
    state = await opened_game(store, "424262", 4_000)
    assert state.opens_ms == T0 + 4_000 and state.deadline_ms == T0 + 4_000 + LIMIT_MS
    with pytest.raises(NotOpen):
        await store.answer_soon("424262", "p1", 0, 0, T0 + 3_999)
    assert await store.answer_soon("424262", "p1", 0, 0, T0 + 4_000) == (1, 0)


@pytest.mark.parametrize("bad", [-1, 11, 2.5, "3", True, None])
async def test_a_lead_in_out_of_bounds_is_refused_with_its_field(server: ServerProcess, bad: object) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(server.base_url + "/api/games", json=quiz() | {"settings": {"lead_in_s": bad}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_quiz"
    assert error["details"][0]["loc"] == ["settings", "lead_in_s"]
