"""The game's rules as a transition table: `transition(state, event, now_ms) -> (state, effects)`.

Theory of operation
-------------------
A game is a `GameState` (phase, current question, its clock, scoring progress, lock flag,
version). Everything that can happen to it is an `Event`. `TRANSITIONS[phase][type(event)]`
names the handler for that pair; a pair with no row is illegal and raises a typed error
(`Finished` in FINISHED, `IllegalTransition` elsewhere) without changing anything. A handler may
also refuse when its guard fails (a deadline not yet reached, an event about an old question),
with the same guarantee. This module is pure: no I/O, no clock, no globals that change; the
caller passes the time in, writes the new state back with compare-and-set on `version`, and
then carries out the returned effects in order.

The life of one question::

    WAITING --Start--> ACTIVE(q=0)  [OpenQuestion]
    ACTIVE --Next | DeadlinePassed (now >= deadline) | AllAnswered(q)--> BETWEEN  [CloseQuestion]
    (a `Next` naming another question or phase, or repeating the last one, is refused)
    BETWEEN --QuestionScored(q)--> BETWEEN with scored=q        (no effect)
    BETWEEN --Next, once scored == q--> ACTIVE(q+1) [OpenQuestion] or FINISHED [FinishGame]
    WAITING | ACTIVE | BETWEEN --End--> FINISHED  ([CloseQuestion] if ACTIVE, then [FinishGame])
    FINISHED --QuestionScored(q)--> FINISHED with scored=q      (a game ended mid-question)
    Lock / Unlock: any phase but FINISHED, state unchanged apart from `locked` [LockChanged]

Joining and answering are not transitions (they change players and answers, not this state),
but their rules live here too, as guards: `check_join` and `check_answer`. The Lua scripts
that record joins and answers in one atomic step (`JOIN_MANY`, `ANSWER_MANY`) mirror them, and
a contract test on a real Redis checks that each refuses exactly what its guard refuses.

Why each question closes at most once: the only ways out of ACTIVE are the close rows and `End`
(which also closes), each of them leaves ACTIVE, and every later way back into ACTIVE opens a
*new* question index. Late duplicates (a second timer, an `AllAnswered` for an old question)
find BETWEEN or a different index and are refused. Scoring is likewise applied once, because
`QuestionScored` needs `scored < question`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from statemachine.effects import CloseQuestion, Effect, FinishGame, LockChanged, OpenQuestion
from statemachine.errors import (
    Finished,
    GameFull,
    IllegalTransition,
    Locked,
    NameTaken,
    NotActive,
    NotOpen,
    TooLate,
    WrongQuestion,
)
from statemachine.events import (
    AllAnswered,
    DeadlinePassed,
    End,
    Event,
    Lock,
    Next,
    QuestionScored,
    Start,
    Unlock,
)
from statemachine.phases import Phase
from statemachine.state import GameState

__all__ = ["TRANSITIONS", "Handler", "Step", "check_answer", "check_join", "is_repeated_next", "transition"]

#: What a handler returns: the next state (before the version bump) and the effects.
Step = tuple[GameState, tuple[Effect, ...]]
#: A table entry. The event parameter is `Any` because each handler takes the one event type
#: its row is keyed by; the table lookup is what guarantees the match.
Handler = Callable[[GameState, Any, int], Step]


def _refuse(state: GameState, event: Event, why: str = "") -> IllegalTransition:
    """The error for an event the current phase does not accept, naming phase and event."""
    message = f"{type(event).__name__} is not allowed in phase {state.phase}"
    return IllegalTransition(f"{message}: {why}" if why else message)


def _open(state: GameState, question: int, now_ms: int) -> Step:
    """Show `question` now and take answers after the lead-in; shared by `Start` and `Next`
    from BETWEEN. The time limit counts from when answers open."""
    opens_ms = now_ms + state.lead_in_ms
    deadline_ms = opens_ms + state.time_limits_ms[question]
    opened = replace(
        state, phase=Phase.ACTIVE, question=question, opened_ms=now_ms, deadline_ms=deadline_ms, changed_ms=now_ms
    )
    effect = OpenQuestion(question=question, opened_ms=now_ms, deadline_ms=deadline_ms, lead_in_ms=state.lead_in_ms)
    return opened, (effect,)


def _close(state: GameState, now_ms: int) -> Step:
    """Close the open question; shared by every way out of ACTIVE into BETWEEN."""
    return replace(state, phase=Phase.BETWEEN, changed_ms=now_ms), (CloseQuestion(question=state.question),)


def is_repeated_next(state: GameState, event: Next, now_ms: int) -> bool:
    """Whether `event` is taken as a repeat of the `Next` that made the current step.

    Two host screens, a double tap or a retry after `server_error` send a second `next` for
    one intent. Received within `event.repeat_window_ms` of a step that a `Next` took, a
    second one is refused where acting would undo what the host just saw: in ACTIVE it would
    close the question that `Next` opened a moment ago (a question skipped); in BETWEEN it
    would skip the closed question's reveal, when it was received before that reveal was
    published (the host cannot have seen it). A `next` sent after the reveal arrived still
    moves on at once: "close early, see the reveal, go on" is the ordinary rhythm.
    """
    window = event.repeat_window_ms
    received_ms = event.received_ms or now_ms
    if window <= 0 or state.next_ms <= 0 or state.next_ms != state.changed_ms:
        return False
    if received_ms - state.next_ms >= window:
        return False
    if state.phase is Phase.ACTIVE:
        return True
    unseen = state.scored < state.question or received_ms < state.scored_ms
    return state.phase is Phase.BETWEEN and unseen


def _check_next(state: GameState, event: Next, now_ms: int) -> None:
    """Refuse a `Next` naming another step than the current one, or repeating the last."""
    if event.question is not None and event.question != state.question:
        raise _refuse(state, event, f"the game is at question {state.question}, not {event.question}")
    if event.phase is not None and event.phase is not state.phase:
        raise _refuse(state, event, f"the game is no longer in phase {event.phase}")
    if is_repeated_next(state, event, now_ms):
        raise _refuse(state, event, f"taken as a repeat of the next {now_ms - state.next_ms} ms ago")


def _start(state: GameState, event: Start, now_ms: int) -> Step:
    return _open(state, 0, now_ms)


def _next_while_active(state: GameState, event: Next, now_ms: int) -> Step:
    """The host closes the question early; the clock does not matter."""
    _check_next(state, event, now_ms)
    return _close(replace(state, next_ms=now_ms), now_ms)


def _deadline_passed(state: GameState, event: DeadlinePassed, now_ms: int) -> Step:
    """A timer fired. Refused if early, so a fast clock on one process cannot cut a question."""
    if now_ms < state.deadline_ms:
        raise _refuse(state, event, f"deadline {state.deadline_ms} not reached at {now_ms}")
    return _close(state, now_ms)


def _all_answered(state: GameState, event: AllAnswered, now_ms: int) -> Step:
    """Everyone answered. Refused for another question, so a stale signal closes nothing."""
    if event.question != state.question:
        raise _refuse(state, event, f"question {event.question} is not the open question {state.question}")
    return _close(state, now_ms)


def _question_scored(state: GameState, event: QuestionScored, now_ms: int) -> Step:
    """Record that the closed question's scores are in (and its reveal out, at `now_ms`);
    allowed once per question."""
    if event.question != state.question or state.scored >= event.question:
        why = f"question {event.question} cannot be scored (question={state.question}, scored={state.scored})"
        if state.phase is Phase.FINISHED:
            raise Finished(f"the game is finished; {why}")
        raise _refuse(state, event, why)
    return replace(state, scored=event.question, scored_ms=now_ms), ()


def _next_while_between(state: GameState, event: Next, now_ms: int) -> Step:
    """Open the next question, or finish after the last; only once scoring caught up, so the
    reveal and leaderboard of the closed question are complete before anything moves on."""
    _check_next(state, event, now_ms)
    if state.scored != state.question:
        raise _refuse(state, event, "scoring in progress")
    stepped = replace(state, next_ms=now_ms)
    if state.is_last_question:
        return replace(stepped, phase=Phase.FINISHED, changed_ms=now_ms), (FinishGame(),)
    return _open(stepped, state.question + 1, now_ms)


def _end(state: GameState, event: End, now_ms: int) -> Step:
    """Finish now. An open question is closed first, so it is still scored and revealed."""
    effects: tuple[Effect, ...] = (FinishGame(),)
    if state.phase is Phase.ACTIVE:
        effects = (CloseQuestion(question=state.question), FinishGame())
    return replace(state, phase=Phase.FINISHED, changed_ms=now_ms), effects


def _lock(state: GameState, event: Lock, now_ms: int) -> Step:
    """Idempotent on purpose: a second `lock` still answers, so the host screen stays in sync."""
    return replace(state, locked=True), (LockChanged(locked=True),)


def _unlock(state: GameState, event: Unlock, now_ms: int) -> Step:
    return replace(state, locked=False), (LockChanged(locked=False),)


def _row(entries: dict[type[Event], Handler]) -> Mapping[type[Event], Handler]:
    """A read-only table row, so no caller can patch the rules at run time."""
    return MappingProxyType(entries)


TRANSITIONS: Mapping[Phase, Mapping[type[Event], Handler]] = MappingProxyType(
    {
        Phase.WAITING: _row({Start: _start, End: _end, Lock: _lock, Unlock: _unlock}),
        Phase.ACTIVE: _row(
            {
                Next: _next_while_active,
                DeadlinePassed: _deadline_passed,
                AllAnswered: _all_answered,
                End: _end,
                Lock: _lock,
                Unlock: _unlock,
            }
        ),
        Phase.BETWEEN: _row(
            {
                QuestionScored: _question_scored,
                Next: _next_while_between,
                End: _end,
                Lock: _lock,
                Unlock: _unlock,
            }
        ),
        Phase.FINISHED: _row({QuestionScored: _question_scored}),
    }
)


def transition(state: GameState, event: Event, now_ms: int) -> Step:
    """Apply `event` at `now_ms` and return the new state (version + 1) and its effects.

    Raises `Finished` for anything refused in FINISHED, `IllegalTransition` for any other
    refused event; in both cases nothing changed (the input is frozen, and there is no other
    state to change).
    """
    handler = TRANSITIONS[state.phase].get(type(event))
    if handler is None:
        if state.phase is Phase.FINISHED:
            raise Finished(f"the game is finished; {type(event).__name__} is not accepted")
        raise _refuse(state, event)
    new_state, effects = handler(state, event, now_ms)
    return replace(new_state, version=state.version + 1), effects


def check_answer(state: GameState, question: int, received_ms: int) -> None:
    """Refuse an answer the rules do not accept; return None when it may be recorded.

    Checks, in this order, the phase (`NotActive`), the question (`WrongQuestion`), when it
    was received: before the question was shown (`NotActive`: a frame read before the
    question opened and handled after must not score from before its start), during the
    lead-in (`NotOpen`), after the deadline (`TooLate`; an answer at the deadline
    millisecond still counts). Whether the player already answered or chose a valid option
    depends on storage and the quiz, so the gameserver checks those itself. The errors carry
    the question the client named.
    """
    if state.phase is not Phase.ACTIVE:
        raise NotActive(f"no question is open (phase {state.phase})", question=question)
    if question != state.question:
        raise WrongQuestion(
            f"question {question} is not the open question {state.question}", question=question
        )
    if received_ms < state.opened_ms:
        raise NotActive(
            f"answer received at {received_ms}, before question {question} opened at {state.opened_ms}",
            question=question,
        )
    if received_ms < state.opens_ms:
        raise NotOpen(f"answers open at {state.opens_ms}; received at {received_ms}", question=question)
    if received_ms > state.deadline_ms:
        raise TooLate(
            f"answer received at {received_ms}, after the deadline {state.deadline_ms}", question=question
        )


def check_join(state: GameState, *, players: int, max_players: int, name_taken: bool) -> None:
    """Refuse a join the rules do not accept; return None when the player may be added.

    `players` is how many are in the game now (joins accepted earlier in the same batch
    count), `name_taken` whether another player already has the name (compared by
    `names.name_key`). Checks, in this order: the game is over (`Finished`), the host locked
    joining (`Locked`), the game is full (`GameFull`), the name is taken (`NameTaken`). Any
    other phase takes joins: a latecomer joins a running game and answers from the next
    question. Whether the game exists at all is the store's to say (`UnknownGame`).
    """
    if state.phase is Phase.FINISHED:
        raise Finished("the game is finished; nobody can join")
    if state.locked:
        raise Locked("the host locked the game")
    if players >= max_players:
        raise GameFull(f"the game is full ({players} of {max_players} players)")
    if name_taken:
        raise NameTaken("another player has this name")
