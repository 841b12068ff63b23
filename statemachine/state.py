"""The game's state as the rules see it: one small frozen value per game.

Only what the transition rules need lives here (phase, which question, its clock, how far
scoring got, the join lock, a version). Players, answers and scores live beside it in storage;
keeping this value small means every change can be a compare-and-set on `version` and the
whole state fits in a few hash fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from statemachine.phases import Phase

__all__ = ["GameState"]


@dataclass(frozen=True)
class GameState:
    """A game between two transitions.

    `question` is the current question in ACTIVE and the last closed one in BETWEEN and
    FINISHED (-1 before the start). `scored` is the highest question whose scores were
    applied; the host may only move on once `scored == question`, so a reveal never shows
    stale totals. `version` grows by one on every successful transition, which the store uses
    for compare-and-set: two processes deciding on the same version can never both win.
    """

    question_count: int
    time_limits_ms: tuple[int, ...]
    phase: Phase = Phase.WAITING
    question: int = -1
    opened_ms: int = 0
    deadline_ms: int = 0
    scored: int = -1
    locked: bool = False
    version: int = 0
    #: The "get ready" lead-in of every question (a quiz setting): the question is shown at
    #: `opened_ms`, answers are taken from `opens_ms = opened_ms + lead_in_ms`, and the
    #: deadline is `opens_ms` plus the time limit, so the timer and the points start there.
    lead_in_ms: int = 0
    #: When the phase last changed (a question opened or closed, the game finished), and when
    #: the last accepted `Next` was: equal when that `Next` made the change. 0 when unknown.
    #: Bookkeeping of *when*, for telling a repeated `next` from a new one; left out of
    #: equality so that two states at the same step compare equal whatever the clock said.
    changed_ms: int = field(default=0, compare=False)
    next_ms: int = field(default=0, compare=False)
    #: When the scores of question `scored` were applied (and its reveal published).
    scored_ms: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        """Coerce stored forms and refuse impossible states.

        State is rebuilt from storage (JSON lists, plain strings), so a list of limits becomes
        a tuple (keeping the value hashable) and a phase string becomes a `Phase`. Anything
        impossible raises `ValueError`: a corrupt state is a server bug, and acting on it could
        open a question that does not exist.
        """
        object.__setattr__(self, "time_limits_ms", tuple(self.time_limits_ms))
        object.__setattr__(self, "phase", Phase(self.phase))
        if self.question_count < 1:
            raise ValueError(f"a game needs at least one question, got {self.question_count}")
        if len(self.time_limits_ms) != self.question_count:
            raise ValueError(f"{len(self.time_limits_ms)} time limits for {self.question_count} questions")
        if any(limit <= 0 for limit in self.time_limits_ms):
            raise ValueError(f"time limits must be positive: {self.time_limits_ms}")
        if not -1 <= self.question < self.question_count:
            raise ValueError(f"question {self.question} out of range for {self.question_count}")
        if not -1 <= self.scored <= self.question:
            raise ValueError(f"scored={self.scored} must lie within [-1, question={self.question}]")
        if self.phase is not Phase.WAITING and self.phase is not Phase.FINISHED and self.question < 0:
            raise ValueError(f"phase {self.phase} needs a question")
        if self.version < 0:
            raise ValueError(f"version must not be negative, got {self.version}")
        if self.lead_in_ms < 0:
            raise ValueError(f"lead-in must not be negative, got {self.lead_in_ms}")

    @classmethod
    def new(cls, time_limits_ms: Iterable[int], lead_in_ms: int = 0) -> GameState:
        """The state of a freshly created game, in WAITING, from its questions' time limits."""
        limits = tuple(time_limits_ms)
        return cls(question_count=len(limits), time_limits_ms=limits, lead_in_ms=lead_in_ms)

    @property
    def opens_ms(self) -> int:
        """When the current question takes answers: after its lead-in (the deadline counts
        from here)."""
        return self.opened_ms + self.lead_in_ms

    @property
    def started(self) -> bool:
        """Whether any question was ever opened (an ended lobby has none to score or show)."""
        return self.question >= 0

    @property
    def owes_scores(self) -> bool:
        """Whether a closed question still waits for its scores (`QuestionScored` would be
        accepted): the one left open by the last close, in BETWEEN or FINISHED."""
        return self.started and self.scored < self.question and self.phase is not Phase.ACTIVE

    @property
    def is_last_question(self) -> bool:
        """Whether `question` is the last one, so that `Next` from BETWEEN finishes the game."""
        return self.question + 1 >= self.question_count

    @property
    def time_limit_ms(self) -> int:
        """The time limit of the current (or last closed) question.

        Raises `ValueError` before the start, when there is no such question.
        """
        if self.question < 0:
            raise ValueError("no question has been opened yet")
        return self.time_limits_ms[self.question]

    def accepts_answers_at(self, received_ms: int) -> bool:
        """True when an answer for the current question received at `received_ms` would count.

        A boolean twin of `machine.check_answer` for callers (a Lua guard mirror, a UI hint)
        that only need yes or no.
        """
        return self.phase is Phase.ACTIVE and self.opens_ms <= received_ms <= self.deadline_ms
        # (`opens_ms` is `opened_ms` without a lead-in: never before the question was shown)
