"""The join rule has one authority: the Lua join script refuses exactly what the pure guard
`statemachine.check_join` refuses, on the real engine(s), over generated games.

Each case builds a game in Redis through the store (players joined earlier, some of them
kicked, the lock, a phase), then sends a batch of joins in one event-loop tick, so they go to
Redis as one `JOIN_MANY` call, where each join sees the ones before it (the running count, the
names they took). The pure model replays the same batch through `check_join` one join at a
time. Both must give the same outcome per join, and the same player count after.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from gameserver.keys import GameKeys
from gameserver.quizzes import Question, Quiz
from gameserver.store import GameRecord, GameStore, token_digest
from statemachine import End, Event, GameState, Lock, Next, Phase, Start, check_join, name_key, transition

QUIZ = Quiz("t", (Question("q0", ("a", "b"), 0, 10_000), Question("q1", ("a", "b"), 1, 10_000)))
PIN = "424301"
#: Names that collide under `name_key` ("Ann" and "ann") and names that do not.
NAMES = ("Ann", "ann", "Bob", "Cy", "Di", "Ed")
PHASE_STEPS: dict[Phase, tuple[Event, ...]] = {
    Phase.WAITING: (),
    Phase.ACTIVE: (Start(),),
    Phase.BETWEEN: (Start(), Next()),
    Phase.FINISHED: (End(),),
}


@dataclass(frozen=True)
class Case:
    phase: Phase
    locked: bool
    max_players: int
    earlier: tuple[str, ...]  # players who joined before the batch (distinct names)
    kicked: frozenset[int]  # which of them the host removed since (their names are free again)
    batch: tuple[str, ...]  # the joins sent together


@st.composite
def cases(draw: st.DrawFn) -> Case:
    earlier = draw(st.lists(st.sampled_from(NAMES), unique_by=name_key, max_size=4))
    kicked = draw(st.frozensets(st.integers(0, len(earlier) - 1), max_size=2)) if earlier else frozenset[int]()
    return Case(
        phase=draw(st.sampled_from(list(Phase))),
        locked=draw(st.booleans()),
        max_players=draw(st.integers(1, 5)),
        earlier=tuple(earlier),
        kicked=kicked,
        batch=tuple(draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6))),
    )


@pytest.fixture(scope="module", params=["embedded", "configured"])
def engine_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "embedded":
        yield str(request.getfixturevalue("embedded_redis_url"))
        return
    url = os.environ.get("LIVEQUIZ_TEST_REDIS_URL", "")
    if not url:
        pytest.skip("LIVEQUIZ_TEST_REDIS_URL is not set (CI sets it to the machine's Redis)")
    yield url


def expected_outcomes(case: Case, state: GameState) -> tuple[list[str], int]:
    """The pure guard's verdict on each join of the batch ("ok" or the error's code), and the
    player count after it."""
    staying = [name for i, name in enumerate(case.earlier) if i not in case.kicked]
    players, taken = len(staying), {name_key(name) for name in staying}
    outcomes = []
    for name in case.batch:
        try:
            check_join(state, players=players, max_players=case.max_players, name_taken=name_key(name) in taken)
        except Exception as refusal:
            outcomes.append(str(getattr(refusal, "code", type(refusal).__name__)))
            continue
        players += 1
        taken.add(name_key(name))
        outcomes.append("ok")
    return outcomes, players


async def stored_outcomes(url: str, case: Case) -> tuple[GameState, list[str], int]:
    """The game of `case` built in Redis, and what the join script made of the batch."""
    redis = Redis.from_url(url)
    store = GameStore(redis, game_ttl_s=600, results_ttl_s=900)
    try:
        await redis.delete(*GameKeys(PIN).all_keys(len(QUIZ.questions)))
        assert await store.create_game(PIN, QUIZ, token_digest("host"), 1_000)
        for i, name in enumerate(case.earlier):
            await store.join(PIN, name=name, name_key=name_key(name), player_id=f"e{i}", token=f"e{i}", max_players=99)
        for i in sorted(case.kicked):
            assert await store.kick(PIN, f"e{i}", name_key(case.earlier[i])) >= 0
        record = await store.load(PIN)
        assert record is not None
        state = record.state
        for event in ((Lock(),) if case.locked else ()) + PHASE_STEPS[case.phase]:
            new, _ = transition(state, event, 20_000)
            assert await store.commit(PIN, state, new, None)
            state = new
        joins = [
            store.join(PIN, name=name, name_key=name_key(name), player_id=f"b{i}", token=f"b{i}",
                       max_players=case.max_players)
            for i, name in enumerate(case.batch)
        ]
        results = await asyncio.gather(*joins, return_exceptions=True)  # one tick: one JOIN_MANY call
        outcomes = ["ok" if isinstance(r, GameRecord) else str(getattr(r, "code", repr(r))) for r in results]
        after = await store.load(PIN)
        assert after is not None
        return state, outcomes, after.players
    finally:
        await redis.delete(*GameKeys(PIN).all_keys(len(QUIZ.questions)))
        await redis.aclose()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_join_script_refuses_exactly_what_the_pure_guard_refuses(engine_url: str, case: Case) -> None:
    state, got, players = asyncio.run(stored_outcomes(engine_url, case))
    assert state.phase is case.phase and state.locked is case.locked
    expected, expected_players = expected_outcomes(case, state)
    assert got == expected
    assert players == expected_players


def test_the_pure_guard_checks_finished_then_locked_then_full_then_the_name() -> None:
    """The order `JOIN_MANY` follows too: a finished game says `finished` even when locked and
    full, a locked one `locked` even when full, and so on."""

    def verdict(phase: Phase, locked: bool, players: int, taken: bool) -> str:
        state = GameState.new([10_000, 10_000])
        for event in ((Lock(),) if locked else ()) + PHASE_STEPS[phase]:
            state, _ = transition(state, event, 20_000)
        try:
            check_join(state, players=players, max_players=5, name_taken=taken)
        except Exception as refusal:
            return str(getattr(refusal, "code", type(refusal).__name__))
        return "ok"

    assert verdict(Phase.FINISHED, True, 5, True) == "finished"
    assert verdict(Phase.WAITING, True, 5, True) == "locked"
    assert verdict(Phase.ACTIVE, False, 5, True) == "game_full"
    assert verdict(Phase.BETWEEN, False, 4, True) == "name_taken"
    assert [verdict(phase, False, 4, False) for phase in (Phase.WAITING, Phase.ACTIVE, Phase.BETWEEN)] == ["ok"] * 3
