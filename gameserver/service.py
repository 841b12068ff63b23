"""Game service: applies the pure rules to the live state in Redis and performs the effects.

Theory of operation. A command (start, next, end, lock, a deadline, "everyone answered") is
an event for `statemachine.transition`. The service loads the game's state, runs the pure
transition, and stores the result with compare-and-set (Lua `COMMIT`), publishing the event
message in the same atomic step; on a version clash it reloads and retries. Effects are then
performed: a question that opens gets a local timer (precision) and an entry in the global due
set (so any process's sweep can close it if this one dies); a question that closes is scored
from its recorded answers with the pure `scoring` module and applied exactly once (Lua
`APPLY_SCORES`, guarded by the `scored` marker); a finished game stores its results once.
`advance()` is the idempotent reconciler that timers and sweeps call: it does whatever a game
still owes (close, score, finish) and nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

from gameserver import metrics
from gameserver.clock import Clock, SystemClock, Timer
from gameserver.envelopes import Envelope, LockSet, Message, Messages
from gameserver.game_messages import final_results, question_message
from gameserver.quizzes import Quiz
from gameserver.reveal import reveal_event
from gameserver.settings import Settings
from gameserver.store import GameRecord, GameStore, token_digest, tokens_match
from scoring import Totals, rank
from statemachine import (
    AllAnswered,
    CloseQuestion,
    DeadlinePassed,
    Effect,
    Event,
    FinishGame,
    GameState,
    LockChanged,
    Next,
    OpenQuestion,
    Phase,
    QuestionScored,
    is_repeated_next,
    name_key,
    normalize_name,
    transition,
)
from statemachine.errors import (
    BadHostToken,
    BadMessage,
    BadToken,
    ClientError,
    Finished,
    IllegalTransition,
    InvalidOption,
    ServerError,
    UnknownGame,
    WrongQuestion,
)
from transports.port import PlayerSeat

log = logging.getLogger(__name__)


class GameService:
    def __init__(self, store: GameStore, settings: Settings, clock: Clock | None = None) -> None:
        self.store = store
        self.settings = settings
        # Deadlines, stamps and the reconnect grace all read this clock (a FakeClock in tests).
        self.clock = clock if clock is not None else SystemClock()
        self.now_ms = self.clock.now_ms
        self._timers: dict[str, Timer] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._checks: dict[tuple[str, int], bool] = {}  # all-answered checks in flight -> recheck wanted
        # Called with the PIN once a finished game's results are stored in Redis, before the
        # game leaves the due set (so a crash in between finishes and calls it again): the
        # platform queues the results for SQL here (gameserver.archiver).
        self.on_finished: Callable[[str], Awaitable[None]] | None = None

    # -- games ---------------------------------------------------------------------------

    async def create_game(self, quiz: Quiz) -> tuple[str, str]:
        host_token = secrets.token_urlsafe(32)
        for _ in range(100):
            pin = str(100_000 + secrets.randbelow(900_000))
            if await self.store.create_game(pin, quiz, token_digest(host_token), self.now_ms()):
                return pin, host_token
        raise ServerError("no free PIN found")

    async def record(self, pin: str) -> GameRecord:
        record = await self.store.load(pin)
        if record is None:
            raise UnknownGame(f"no game with PIN {pin}")
        return record

    async def is_host(self, pin: str, host_token: str) -> bool:
        record = await self.store.load(pin)
        return record is not None and tokens_match(host_token, record.host_digest)

    async def check_host(self, pin: str, host_token: object) -> None:
        """Refuse a host socket: `UnknownGame` when the game is gone (Redis lost it, or it
        expired), so the client is not told its token is wrong; `BadHostToken` otherwise."""
        record = await self.store.load(pin)
        if record is None:
            self.store.forget_exists(pin)
            raise UnknownGame(f"no game with PIN {pin}")
        if not isinstance(host_token, str) or not tokens_match(host_token, record.host_digest):
            raise BadHostToken("wrong host token")

    # -- players -------------------------------------------------------------------------

    def new_seat(self, raw_name: object) -> PlayerSeat:
        """A validated name with a fresh player id and token (nothing stored yet)."""
        name = normalize_name(raw_name)
        return PlayerSeat(player_id=secrets.token_urlsafe(9), token=secrets.token_urlsafe(24), name=name)

    async def join(self, pin: str, raw_name: object) -> PlayerSeat:
        seat = self.new_seat(raw_name)
        await self.take_seat(pin, seat)
        return seat

    async def take_seat(self, pin: str, seat: PlayerSeat, *, connect: bool = False) -> GameRecord:
        """Join `seat` to the game (with `connect`, its socket counts as open from the same
        atomic step); returns the game as it is right after."""
        return await self.store.join(
            pin, name=seat.name, name_key=name_key(seat.name), player_id=seat.player_id, token=seat.token,
            max_players=self.settings.max_players, connect=connect,
        )

    async def resume(self, pin: str, token: object) -> tuple[str, str]:
        if not isinstance(token, str) or not token or len(token) > 200:
            raise BadToken("unknown or revoked token")
        player_id = await self.store.player_for_token(pin, token)
        name = await self.store.player_name(pin, player_id) if player_id else None
        if player_id is None or name is None:
            if await self.store.load(pin) is None:  # the game is gone, not the token wrong
                self.store.forget_exists(pin)
                raise UnknownGame(f"no game with PIN {pin}")
            raise BadToken("unknown or revoked token")
        return player_id, name

    async def set_connected(self, pin: str, player_id: str, connected: bool) -> None:
        """Count a socket of the player opening or closing. A player whose last socket closes
        during a question is still waited for during the reconnect grace (a refresh, a second
        of lost Wi-Fi): the early close is checked now (it may have waited only for them if
        they answered) and again when the grace ends."""
        grace = self.settings.reconnect_grace_ms
        away_until = self.now_ms() + grace if grace > 0 and not connected else 0
        presence = await self.store.connect(pin, player_id, 1 if connected else -1, away_until)
        if not connected and presence.sockets <= 0 and presence.phase == Phase.ACTIVE.value:
            self._check_all_answered(pin, presence.question)
            if grace > 0:
                self._spawn(self._check_all_answered_later(pin, presence.question, grace / 1000))

    async def _check_all_answered_later(self, pin: str, question: int, delay_s: float) -> None:
        await self.clock.sleep(delay_s + 0.05)  # just past the grace, which the script compares to
        self._check_all_answered(pin, question)

    async def answer(self, pin: str, player_id: str, question: int, option: int, received_ms: int) -> None:
        quiz = await self.store.quiz(pin)
        await self.answer_soon(pin, player_id, question, option, received_ms, quiz)

    def answer_soon(
        self, pin: str, player_id: str, question: int, option: int, received_ms: int, quiz: Quiz
    ) -> asyncio.Future[tuple[int, int]]:
        """Check and record an answer without awaiting (the socket's receive fast path calls it
        from a read callback). Raises a bad question or option at once; the future fails with
        the store's refusal (its `question` set) or resolves once the answer is recorded."""
        if not 0 <= question < len(quiz.questions):
            raise WrongQuestion(f"there is no question {question}", question=question)
        if not 0 <= option < len(quiz.questions[question].options):
            raise InvalidOption(f"question {question} has no option {option}", question=question)
        future = self.store.answer_soon(pin, player_id, question, option, received_ms)
        future.add_done_callback(functools.partial(self._answer_recorded, pin, question))
        return future

    def _answer_recorded(self, pin: str, question: int, future: asyncio.Future[tuple[int, int]]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, ClientError):
            error.question = question
        elif error is None:
            answered, connected = future.result()
            if answered >= connected:
                self._check_all_answered(pin, question)

    async def kick(self, pin: str, player_id: object) -> None:
        if not isinstance(player_id, str):
            raise BadMessage("kick needs a string player_id")
        name = await self.store.player_name(pin, player_id)
        if name is None or await self.store.kick(pin, player_id, name_key(name)) < 0:
            raise BadMessage(f"no player {player_id!r} in this game")

    # -- transitions ---------------------------------------------------------------------

    def next_event(self, message: Mapping[str, Any], received_ms: int = 0) -> Next:
        """The `next` a host message asks for. With `phase` (and usually `question`) it names
        the step to leave, exactly; without, it gets the repeat window of the settings."""
        question, phase = message.get("question"), message.get("phase")
        if question is not None and (not isinstance(question, int) or isinstance(question, bool)):
            raise BadMessage("field 'question' of next must be an integer")
        if phase is not None and phase not in (Phase.ACTIVE.value, Phase.BETWEEN.value):
            raise BadMessage("field 'phase' of next must be ACTIVE or BETWEEN")
        if phase is not None:
            return Next(question=question, phase=Phase(phase))
        window = self.settings.next_repeat_window_ms
        return Next(question=question, repeat_window_ms=window, received_ms=received_ms)

    async def command(self, pin: str, event: Event) -> GameState:
        """A host command. `next` in BETWEEN first finishes scoring the closed question.

        A `next` that names no phase is pinned to the step it was decided on (the question and
        phase loaded here): when another `next` (a second host screen, on any process) wins the
        compare-and-set first, the retry finds another step and is refused, instead of moving
        the game a second time."""
        if isinstance(event, Next):
            state = (await self.record(pin)).state
            if event.phase is None:
                question = state.question if event.question is None else event.question
                event = replace(event, question=question, phase=state.phase)
            owed = state.phase is Phase.BETWEEN and state.owes_scores
            if owed and not is_repeated_next(state, event, self.now_ms()):
                await self.score(pin, state.question)
        return await self.apply(pin, event)

    async def apply(self, pin: str, event: Event) -> GameState:
        """The one way a game's state changes: load, transition, compare-and-set, effects.

        The pure machine decides (`transition` raises, changing nothing, when the rules
        refuse); the store writes its new state only while the version is the one it decided
        on, else the game is loaded and decided again; then the effects are carried out.
        `QuestionScored` writes the question's totals and reveal in its compare-and-set
        (`_write_scores`); every other step writes its announcement (`_write_step`)."""
        write = self._write_scores if isinstance(event, QuestionScored) else self._write_step
        for _ in range(10):
            record = await self.record(pin)
            now = self.now_ms()
            new, effects = transition(record.state, event, now)
            if await write(record, new, effects, now):
                await self._perform(pin, effects)
                return new
        raise ServerError("the game changed too often to apply the command")

    async def _write_step(self, record: GameRecord, new: GameState, effects: tuple[Effect, ...], now: int) -> bool:
        message = await self._announcement(record, new, effects, now)
        for effect in effects:  # due before commit: a crash between leaves a harmless entry
            if isinstance(effect, OpenQuestion):
                await self.store.due_add(record.pin, effect.deadline_ms + self.settings.close_grace_ms)
            elif isinstance(effect, CloseQuestion | FinishGame):
                await self.store.due_add(record.pin, now)
        return await self.store.commit(record.pin, record.state, new, message)

    async def _write_scores(self, record: GameRecord, new: GameState, effects: tuple[Effect, ...], now: int) -> bool:
        """Score the question `new` marks scored from its recorded answers and write the totals,
        the reveal and `new` in one compare-and-set."""
        started = time.perf_counter()
        pin, index = record.pin, new.scored
        question = (await self.store.quiz(pin, record.game_id)).questions[index]
        names, recorded, totals = await self.store.scoring_inputs(pin, index)
        updated, event = reveal_event(index, question, record.state.deadline_ms, names, recorded, totals)
        # Stamped when the reveal goes out, not when the step was decided: a `next` received
        # while it was computed was pressed before the host could see it (`is_repeated_next`).
        published = replace(new, scored_ms=self.now_ms())
        written = await self.store.apply_scores(pin, record.state, published, updated, event)
        metrics.REVEAL_SECONDS.observe(time.perf_counter() - started)
        return written

    async def _announcement(
        self, record: GameRecord, new: GameState, effects: tuple[Effect, ...], now: int
    ) -> Envelope | None:
        for effect in effects:
            if isinstance(effect, OpenQuestion):
                quiz = await self.store.quiz(record.pin, record.game_id)
                return Messages((Message(question_message(quiz, new, now)),))
            if isinstance(effect, LockChanged):
                return LockSet(effect.locked, record.players)
        return None

    async def _perform(self, pin: str, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            if isinstance(effect, OpenQuestion):
                self._arm(pin, effect.deadline_ms + self.settings.close_grace_ms)
            elif isinstance(effect, CloseQuestion):
                self._disarm(pin)
                await self.score(pin, effect.question)
            elif isinstance(effect, FinishGame):
                await self.finish(pin)

    # -- closing, scoring, finishing -----------------------------------------------------

    async def score(self, pin: str, question_index: int) -> None:
        """Score a closed question from its recorded answers, once: when it is already scored
        (by this process or another), still open, or not the last closed one, the rules refuse
        `QuestionScored` and nothing happens."""
        with contextlib.suppress(IllegalTransition, Finished):
            await self.apply(pin, QuestionScored(question_index))

    async def finish(self, pin: str) -> None:
        record = await self.record(pin)
        state = record.state
        if state.phase is not Phase.FINISHED:
            return
        if state.owes_scores:
            await self.score(pin, state.question)
        if await self.store.final_results(pin) is None:
            names = await self.store.players(pin)
            totals = await self.store.totals(pin)
            standings = rank((p, name, totals.get(p) or Totals()) for p, name in names.items())
            await self.store.finish(pin, state.question_count, final_results(standings))
        if self.on_finished is not None:
            await self.on_finished(pin)
        self._disarm(pin)
        await self.store.due_remove(pin)

    async def advance(self, pin: str) -> None:
        """Do whatever the game still owes (close at deadline, score, finish); idempotent."""
        record = await self.store.load(pin)
        if record is None:
            await self.store.due_remove(pin)
            return
        state = record.state
        if state.phase is Phase.ACTIVE:
            due = state.deadline_ms + self.settings.close_grace_ms
            if self.now_ms() < due:
                await self.store.due_add(pin, due)
                return
            with contextlib.suppress(IllegalTransition):
                await self.apply(pin, DeadlinePassed())
            record = await self.record(pin)
            state = record.state
        if state.owes_scores:
            await self.score(pin, state.question)
        if state.phase is Phase.FINISHED:
            await self.finish(pin)
            return
        latest = await self.store.load(pin)
        if latest is not None and latest.state.phase is Phase.ACTIVE:
            await self.store.due_add(pin, latest.state.deadline_ms + self.settings.close_grace_ms)
        else:
            await self.store.due_remove(pin)

    async def sweep(self, lease_ms: int = 5000) -> int:
        """Advance every game whose due time has passed, whichever process started it."""
        pins = await self.store.due_claim(self.now_ms(), lease_ms)
        for pin in pins:
            try:
                await self.advance(pin)
            except Exception:
                log.exception("sweep could not advance game %s", pin)
        return len(pins)

    # -- timers and background checks ----------------------------------------------------

    def _arm(self, pin: str, at_ms: int) -> None:
        self._disarm(pin)
        delay = max(0.0, (at_ms - self.now_ms()) / 1000)
        # The coroutine is created when the timer fires: a cancelled timer leaves none behind.
        self._timers[pin] = self.clock.call_later(delay, lambda: self._spawn(self._advance_from_timer(pin)))

    async def _advance_from_timer(self, pin: str) -> None:
        self._timers.pop(pin, None)
        await self.advance(pin)

    def _disarm(self, pin: str) -> None:
        timer = self._timers.pop(pin, None)
        if timer is not None:
            timer.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def _check_all_answered(self, pin: str, question: int) -> None:
        key = (pin, question)
        if key in self._checks:
            self._checks[key] = True  # a check is running: run it once more afterwards
            return
        self._checks[key] = False
        self._spawn(self._close_if_all_answered(pin, question))

    async def _close_if_all_answered(self, pin: str, question: int) -> None:
        key = (pin, question)
        try:
            while True:
                self._checks[key] = False
                if await self.store.all_connected_answered(pin, question, self.now_ms()):
                    with contextlib.suppress(ClientError):
                        await self.apply(pin, AllAnswered(question))
                    return
                if not self._checks[key]:
                    return
        finally:
            self._checks.pop(key, None)

    async def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what a (re)connecting client is sent --------------------------------------------

    async def current_messages(
        self, pin: str, *, player_id: str | None = None, host: bool = False, record: GameRecord | None = None
    ) -> list[dict[str, Any]]:
        record = record or await self.record(pin)
        state = record.state
        if state.phase is Phase.WAITING:
            lobby: dict[str, Any] = {"type": "lobby", "count": record.players}
            if host:
                lobby |= {"joined": [], "left": [], "locked": state.locked}
            return [lobby]
        if state.phase is Phase.ACTIVE:
            quiz = await self.store.quiz(pin, record.game_id)
            message = question_message(quiz, state, self.now_ms())
            if player_id is not None:
                message["answered"] = await self.store.has_answered(pin, state.question, player_id)
            return [message]
        stored = await (self.store.final_results(pin) if state.phase is Phase.FINISHED else self.store.last_reveal(pin))
        if stored is None:
            return []  # scoring or results still being written: the event follows shortly
        if state.phase is Phase.BETWEEN and stored.question != state.question:
            return []
        messages = []
        for item in stored.items:
            message = dict(item.msg)
            if host and item.host:
                message |= item.host
            elif player_id is not None and item.you and player_id in item.you:
                message["you"] = item.you[player_id]
            messages.append(message)
        return messages

    async def player_score(self, pin: str, player_id: str) -> int:
        return (await self.store.player_totals(pin, player_id)).score

