"""The game runner: the one way a game's control state changes, and what closes its questions.

Theory of operation. A command (start, next, end, lock, a deadline, "everyone answered") is
an event for `statemachine.transition`. The runner loads the game's state, runs the pure
transition, and stores the result with compare-and-set (Lua `COMMIT`), publishing the event
message in the same atomic step; on a version clash it reloads and retries (`apply`). Effects
are then performed: a question that opens gets a local timer (precision) and an entry in the
global due set (so any process's sweep can close it if this one dies); a question that closes
is scored from its recorded answers with the pure `scoring` module and applied exactly once
(Lua `APPLY_SCORES`, guarded by the `scored` marker); a finished game stores its results once.
`advance()` is the idempotent reconciler that timers and sweeps call: it does whatever a game
still owes (close, score, finish) and nothing twice.

`GameRunner` is the base of `service.GameService`, which adds what sessions ask of a game
(seats, answers, kicks, the messages a reconnecting socket is sent); nothing here calls back
into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

from gameserver import metrics
from gameserver.clock import Clock, SystemClock, Timer
from gameserver.envelopes import Envelope, LockSet, Message, Messages
from gameserver.game_messages import final_results, question_shown
from gameserver.reveal import reveal_event
from gameserver.settings import Settings
from gameserver.store import GameRecord, GameStore
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
    transition,
)
from statemachine.errors import (
    BadMessage,
    ClientError,
    Finished,
    IllegalTransition,
    ServerError,
    UnknownGame,
)

__all__ = ["GameRunner"]

log = logging.getLogger(__name__)


class GameRunner:
    """Changes a game's control state (`apply`) and carries a game through what it owes:
    closing, scoring, finishing (`advance`), on local timers and the shared due set."""

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

    async def record(self, pin: str) -> GameRecord:
        record = await self.store.load(pin)
        if record is None:
            raise UnknownGame(f"no game with PIN {pin}")
        return record

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
                return Messages((Message(question_shown(quiz, new, now).to_wire()),))
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
        seen = await self.store.due_score(pin)
        record = await self.store.load(pin)
        if record is None:
            await self._settle_due(pin, seen)
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
        seen = await self.store.due_score(pin)
        latest = await self.store.load(pin)
        if latest is not None and latest.state.phase is Phase.ACTIVE:
            await self.store.due_add(pin, latest.state.deadline_ms + self.settings.close_grace_ms)
        else:
            await self._settle_due(pin, seen)

    async def _settle_due(self, pin: str, seen: float | None) -> None:
        """Drop the due entry of a game read (just after `seen` was) as owing nothing.

        The read may be stale: a `next` on any process can open a question right after it,
        and that step writes its deadline's entry before its commit. So the entry goes only
        if it is still the one seen, and only if it was no open question's: a claimed one
        (a sweeper's lease, x.5 ms) or one already due. A future whole-millisecond entry
        may be a question opening this moment; it stays, and when it comes due a sweeper
        claims it and finds out. (An unconditional remove here loses that question's only
        deadline entry; if its process then dies, nobody closes the question.)"""
        if seen is None:
            return
        claimed = seen != int(seen)
        if claimed or seen <= self.now_ms():
            await self.store.due_release(pin, seen)

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
