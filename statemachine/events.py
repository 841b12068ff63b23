"""Events: everything that can happen to a game, as frozen values.

Events say *what happened*, not who caused it: whether the sender is allowed to send `Next`
(the host token) is checked before an event is built. Time is never inside an event; it is
passed to `transition` separately so that one clock reading serves the whole step.

Host commands: `Start`, `Next`, `End`, `Lock`, `Unlock`.
Server-side happenings: `DeadlinePassed` (a timer or sweeper saw the deadline),
`AllAnswered` (every connected player answered), `QuestionScored` (scores were written).
The last two carry the question index, so that a late or duplicated signal about an old
question can be recognised and refused instead of closing or scoring the wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine.phases import Phase

__all__ = [
    "AllAnswered",
    "DeadlinePassed",
    "End",
    "Event",
    "Lock",
    "Next",
    "QuestionScored",
    "Start",
    "Unlock",
]


@dataclass(frozen=True)
class Start:
    """The host starts the game: the first question opens."""


@dataclass(frozen=True)
class Next:
    """The host moves on: close the open question now, or open the next one (or finish).

    `question` and `phase`, when given, name the step the host means to leave: the event is
    refused unless the game is still there, so a second screen or a retried command never
    moves the game twice. `repeat_window_ms` (0: off) protects a `next` that names no phase:
    within that window of the step a previous `Next` took, it is refused where acting would
    undo what the host just saw (`machine.is_repeated_next`).
    """

    question: int | None = None
    phase: Phase | None = None
    repeat_window_ms: int = 0
    #: When the server received the command (0: the transition's `now`); the repeat rule
    #: asks what the host could have seen when pressing, not when the command was processed.
    received_ms: int = 0


@dataclass(frozen=True)
class End:
    """The host ends the game from any phase; an open question is closed first."""


@dataclass(frozen=True)
class DeadlinePassed:
    """The current question's deadline was reached.

    Carries no question index because the machine checks the clock against the stored
    deadline itself; a timer firing early is refused, one firing twice finds BETWEEN.
    """


@dataclass(frozen=True)
class AllAnswered:
    """Every connected player has answered `question`, so waiting longer is pointless."""

    question: int


@dataclass(frozen=True)
class QuestionScored:
    """The scores of closed `question` were applied; the host may now move on."""

    question: int


@dataclass(frozen=True)
class Lock:
    """The host refuses new joins."""


@dataclass(frozen=True)
class Unlock:
    """The host allows new joins again."""


#: Anything `transition` accepts.
Event = Start | Next | End | DeadlinePassed | AllAnswered | QuestionScored | Lock | Unlock
