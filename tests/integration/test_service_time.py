"""The game service's timing rules on a fake clock, against a real Redis: a question closes at
its deadline (plus the close grace) and not before, an answer stamped past the deadline is
refused, the "get ready" lead-in costs no points, a dropped player is waited for during the
reconnect grace only, a second `next` inside the repeat window moves nothing, a `next` naming
its step acts only there. Time moves by `FakeClock.advance` (a 20 s question's deadline passes
in milliseconds); Redis and its scripts are real, and so are its key TTLs.

What the socket path adds to these rules (the stamp of a message as it is read, a deadline
timer's real precision, a dropped socket counted as gone, two hosts racing on two processes)
is tested against real server processes: test_rules.py, test_engine_answers.py,
test_engine_next.py, test_fast_path.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from gameserver.clock import FakeClock
from gameserver.keys import GameKeys
from gameserver.quizzes import Question, Quiz
from gameserver.service import GameService
from gameserver.settings import Settings
from gameserver.store import GameStore
from gameserver.store.records import GameRecord
from statemachine import GameState, Phase, Start
from statemachine.errors import BadMessage, IllegalTransition, NotOpen, TooLate
from transports.port import PlayerSeat

CLOSE_GRACE_MS = 150
RECONNECT_GRACE_MS = 3_000
REPEAT_WINDOW_MS = 1_000


@pytest.fixture
def clock() -> FakeClock:
    # From the real time: another process's sweeper sharing this Redis (a server of another
    # test) must not find this game's due entry in its past and close the question for us.
    return FakeClock(wall_ms=time.time_ns() // 1_000_000)


@pytest.fixture
async def service(redis_url: str, clock: FakeClock) -> AsyncIterator[GameService]:
    redis = Redis.from_url(redis_url)
    store = GameStore(redis, game_ttl_s=600, results_ttl_s=900, clock=clock)
    settings = Settings(
        close_grace_ms=CLOSE_GRACE_MS, reconnect_grace_ms=RECONNECT_GRACE_MS, next_repeat_window_ms=REPEAT_WINDOW_MS
    )
    service = GameService(store, settings, clock)
    pins: list[str] = []
    original = service.create_game

    async def create_game(quiz: Quiz) -> tuple[str, str]:
        pin, token = await original(quiz)
        pins.append(pin)
        return pin, token

    service.create_game = create_game  # type: ignore[method-assign]  # noted for the clean-up
    yield service
    await service.shutdown()
    for pin in pins:
        await service.store.due_remove(pin)
        await redis.delete(*GameKeys(pin).all_keys(4))
    await redis.aclose()


def two_question_quiz(time_limit_ms: int, lead_in_ms: int = 0) -> Quiz:
    questions = (Question("q0", ("a", "b", "c", "d"), 0, time_limit_ms), Question("q1", ("a", "b"), 1, time_limit_ms))
    return Quiz("timing", questions, lead_in_ms)


async def started_game(service: GameService, quiz: Quiz, *names: str) -> tuple[str, list[PlayerSeat], GameState]:
    pin, _ = await service.create_game(quiz)
    seats = []
    for name in names:
        seat = service.new_seat(name)
        await service.take_seat(pin, seat, connect=True)
        seats.append(seat)
    return pin, seats, await service.apply(pin, Start())


async def state(service: GameService, pin: str) -> GameState:
    return (await service.record(pin)).state


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 2.0) -> None:
    """Wait (real time: Redis round trips) until `check` holds; what woke the work was the
    fake clock, this only waits for the work to finish. Shorter than any real timer of these
    tests (the 3 s grace, the deadlines): work left to the real clock fails here."""
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "did not happen"
        await asyncio.sleep(0.005)


async def closed(service: GameService, pin: str) -> GameState:
    async def between() -> bool:
        current = await state(service, pin)
        return current.phase is Phase.BETWEEN and current.scored >= current.question

    await eventually(between)
    return await state(service, pin)


async def reveal_for(service: GameService, pin: str, seat: PlayerSeat) -> dict[str, Any]:
    messages = await service.current_messages(pin, player_id=seat.player_id)
    assert messages and messages[0]["type"] == "reveal", messages
    return messages[0]


async def test_a_twenty_second_question_closes_at_its_deadline_and_not_before(
    service: GameService, clock: FakeClock
) -> None:
    pin, (ada,), opened = await started_game(service, two_question_quiz(20_000), "Ada")
    assert opened.deadline_ms == clock.now_ms() + 20_000
    await clock.advance(20 + CLOSE_GRACE_MS / 1000 - 0.001)
    assert (await state(service, pin)).phase is Phase.ACTIVE and clock.pending == 1
    await clock.advance(0.001)  # the close timer's moment: deadline plus the close grace
    after = await closed(service, pin)
    assert after.changed_ms == opened.deadline_ms + CLOSE_GRACE_MS
    reveal = await reveal_for(service, pin, ada)
    assert reveal["question"] == 0 and reveal["you"]["answered"] is False


async def test_an_answer_stamped_past_the_deadline_is_refused_inside_the_close_grace(
    service: GameService, clock: FakeClock
) -> None:
    pin, (ada, bob, cy), opened = await started_game(service, two_question_quiz(5_000), "Ada", "Bob", "Cy")
    await service.answer(pin, bob.player_id, 0, 0, clock.now_ms())
    await clock.advance(5.0)
    await service.answer(pin, cy.player_id, 0, 0, clock.now_ms())  # at the deadline: counts
    await clock.advance(0.1)  # past it, the question still open for the close grace
    assert (await state(service, pin)).phase is Phase.ACTIVE
    with pytest.raises(TooLate):
        await service.answer(pin, ada.player_id, 0, 0, clock.now_ms())
    await clock.advance(CLOSE_GRACE_MS / 1000 - 0.1)  # to the close timer's moment
    after = await closed(service, pin)
    assert after.changed_ms == opened.deadline_ms + CLOSE_GRACE_MS
    assert (await reveal_for(service, pin, ada))["distribution"] == [2, 0, 0, 0]  # Ada's never counted
    assert (await reveal_for(service, pin, ada))["you"] | {"rank": 0} == {
        "answered": False, "correct": False, "points": 0, "score": 0, "rank": 0}
    assert (await reveal_for(service, pin, cy))["you"] | {"rank": 0, "score": 0} == {
        "answered": True, "correct": True, "points": 0, "score": 0, "rank": 0}
    assert (await reveal_for(service, pin, bob))["you"]["points"] == 1000


async def test_the_lead_in_refuses_early_answers_and_costs_no_points(service: GameService, clock: FakeClock) -> None:
    pin, (ada,), opened = await started_game(service, two_question_quiz(5_000, lead_in_ms=2_000), "Ada")
    shown = (await service.current_messages(pin, player_id=ada.player_id))[0]
    assert shown["opens_at"] == shown["server_time"] + 2_000 and shown["deadline"] == shown["opens_at"] + 5_000
    with pytest.raises(NotOpen):  # too early; it does not use up her one answer
        await service.answer(pin, ada.player_id, 0, 0, clock.now_ms())
    await clock.advance(1.0)  # a player coming back during the lead-in sees the same times
    again = (await service.current_messages(pin, player_id=ada.player_id))[0]
    assert (again["opens_at"], again["deadline"], again["answered"]) == (shown["opens_at"], shown["deadline"], False)
    await clock.advance(1.3)  # 0.3 s after answers opened
    await service.answer(pin, ada.player_id, 0, 0, clock.now_ms())
    await closed(service, pin)  # everyone answered: closed at once, not at the deadline
    reveal = await reveal_for(service, pin, ada)
    # 4.7 s of 5 left: 940 points; counted from when it was shown it would be 540.
    assert reveal["you"]["correct"] is True and reveal["you"]["points"] == 940
    assert opened.opens_ms == opened.opened_ms + 2_000


async def test_a_player_who_drops_and_resumes_within_the_grace_still_answers(
    service: GameService, clock: FakeClock
) -> None:
    pin, (ada, bob), _ = await started_game(service, two_question_quiz(30_000), "Ada", "Bob")
    await service.answer(pin, ada.player_id, 0, 0, clock.now_ms())
    await service.set_connected(pin, bob.player_id, False)  # a refresh: only Ada is connected
    await clock.advance(1.0)
    assert (await state(service, pin)).phase is Phase.ACTIVE  # he is waited for
    await service.set_connected(pin, bob.player_id, True)
    assert (await service.current_messages(pin, player_id=bob.player_id))[0]["answered"] is False
    await service.answer(pin, bob.player_id, 0, 0, clock.now_ms())
    after = await closed(service, pin)  # now everyone answered: closed early
    assert after.changed_ms == clock.now_ms()
    reveal = await reveal_for(service, pin, bob)
    assert reveal["you"]["correct"] is True and reveal["distribution"] == [2, 0, 0, 0]
    await clock.advance(RECONNECT_GRACE_MS / 1000)  # the grace's own check finds it closed
    assert (await state(service, pin)).question == 0


async def test_a_player_who_does_not_come_back_is_waited_for_only_during_the_grace(
    service: GameService, clock: FakeClock
) -> None:
    pin, (ada, bob), opened = await started_game(service, two_question_quiz(30_000), "Ada", "Bob")
    await service.answer(pin, ada.player_id, 0, 0, clock.now_ms())
    dropped_ms = clock.now_ms()
    await service.set_connected(pin, bob.player_id, False)
    await clock.advance(RECONNECT_GRACE_MS / 1000 - 0.01)
    assert (await state(service, pin)).phase is Phase.ACTIVE
    await clock.advance(0.1)  # the grace's end (and the check just past it)
    after = await closed(service, pin)
    assert dropped_ms + RECONNECT_GRACE_MS <= after.changed_ms <= dropped_ms + RECONNECT_GRACE_MS + 100
    assert after.changed_ms < opened.deadline_ms  # not the 30 s deadline
    assert (await reveal_for(service, pin, ada))["distribution"] == [1, 0, 0, 0]


async def test_two_next_in_a_row_between_questions_open_one_question(service: GameService, clock: FakeClock) -> None:
    """A double tap: the second `next` would close the question the first just opened. Inside
    the repeat window it is refused; past it, a `next` is the host's own again."""
    pin, _, _ = await started_game(service, two_question_quiz(20_000), "Ada")
    await service.command(pin, service.next_event({}, clock.now_ms()))  # closes question 0
    await clock.advance(2.0)  # the host saw the reveal
    opened = await service.command(pin, service.next_event({}, clock.now_ms()))
    assert (opened.phase, opened.question) == (Phase.ACTIVE, 1)
    await clock.advance(REPEAT_WINDOW_MS / 1000 - 0.001)
    with pytest.raises(IllegalTransition, match="repeat of the next") as refused:
        await service.command(pin, service.next_event({}, clock.now_ms()))
    assert refused.value.code == "not_active"
    assert (await state(service, pin)).phase is Phase.ACTIVE and clock.pending == 1  # its deadline
    await clock.advance(0.001)
    closed_ = await service.command(pin, service.next_event({}, clock.now_ms()))
    assert (closed_.phase, closed_.question) == (Phase.BETWEEN, 1)


async def test_next_naming_its_step_acts_only_at_that_step(service: GameService, clock: FakeClock) -> None:
    pin, _, _ = await started_game(service, quiz_of(3), "Ada")

    async def next_(**message: object) -> GameState:
        return await service.command(pin, service.next_event(message, clock.now_ms()))

    assert (await next_(question=0, phase="ACTIVE")).phase is Phase.BETWEEN
    await clock.advance(30.0)  # the same `next` again, even long after: no longer that step
    for stale in ({"question": 0, "phase": "ACTIVE"}, {"question": 1, "phase": "BETWEEN"}):  # left; not reached
        with pytest.raises(IllegalTransition):
            await next_(**stale)
    assert (await next_(question=0, phase="BETWEEN")).question == 1
    with pytest.raises(IllegalTransition):
        await next_(question=0, phase="BETWEEN")
    # With `phase` there is no repeat window: the host may close what it just opened.
    assert (await next_(question=1, phase="ACTIVE")).phase is Phase.BETWEEN
    for bad in ({"question": "1"}, {"question": True}, {"phase": "WAITING"}, {"phase": 3}):
        with pytest.raises(BadMessage):
            service.next_event(bad, clock.now_ms())
    assert (await state(service, pin)).phase is Phase.BETWEEN


def quiz_of(count: int) -> Quiz:
    return Quiz("steps", tuple(Question(f"q{i}", ("a", "b"), 0, 20_000) for i in range(count)))


async def test_a_question_opened_while_a_sweep_reads_the_game_between_questions_keeps_its_deadline_entry(
    service: GameService, clock: FakeClock
) -> None:
    """A sweeper finishing a closed question reads the game as between questions; the host's
    `next` opens the next question right after that read. The sweeper must not then remove the
    new question's deadline entry: with its opening process dead, nobody else would close it."""
    pin, _, _ = await started_game(service, two_question_quiz(20_000), "Ada")
    await service.command(pin, service.next_event({}, clock.now_ms()))  # closes question 0 (due now)
    await clock.advance(2.0)
    original_load = service.store.load
    loads: list[Phase] = []
    opened: list[GameState] = []

    async def load_then_the_host_presses_next(pin_: str) -> GameRecord | None:
        record = await original_load(pin_)
        assert record is not None
        loads.append(record.state.phase)
        if len(loads) == 2:  # advance's last read, stale the moment the question opens
            service.store.load = original_load  # type: ignore[method-assign]
            opened.append(await service.command(pin, service.next_event({}, clock.now_ms())))
        return record

    service.store.load = load_then_the_host_presses_next  # type: ignore[method-assign,assignment]
    await service.advance(pin)
    assert loads == [Phase.BETWEEN, Phase.BETWEEN] and opened[0].phase is Phase.ACTIVE
    assert await service.store.due_score(pin) == opened[0].deadline_ms + CLOSE_GRACE_MS


async def test_a_sweep_of_a_game_owing_nothing_removes_its_claimed_entry(
    service: GameService, clock: FakeClock
) -> None:
    pin, _, _ = await started_game(service, two_question_quiz(20_000), "Ada")
    await service.command(pin, service.next_event({}, clock.now_ms()))  # closes question 0 (due now)
    await eventually(lambda: _scored(service, pin))
    assert (await service.store.due_score(pin) or 0) <= clock.now_ms()
    assert pin in await service.store.due_claim(clock.now_ms(), 5_000)  # a sweeper's lease: x.5 ms
    assert await service.store.due_score(pin) == clock.now_ms() + 5_000.5
    await service.advance(pin)
    assert await service.store.due_score(pin) is None


async def _scored(service: GameService, pin: str) -> bool:
    current = await state(service, pin)
    return current.phase is Phase.BETWEEN and not current.owes_scores
