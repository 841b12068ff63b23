"""Effects: what the caller must do after a successful transition, as frozen values.

The machine never does I/O (DESIGN.md principle 1); it only says what follows from the step,
and the gameserver turns each effect into Redis writes, timers and broadcasts. Effects come
out in the order they must be carried out: for `End` during a question, the question is
closed (and later scored and revealed) before the game is finished.

Effects are only produced for a transition that succeeded, so "exactly one close per
question" holds as long as the state is written back with compare-and-set on its version.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CloseQuestion", "Effect", "FinishGame", "LockChanged", "OpenQuestion"]


@dataclass(frozen=True)
class OpenQuestion:
    """Question `question` is shown from `opened_ms`, takes answers from `opens_ms` (after the
    lead-in) until `deadline_ms`.

    Carries the times so the caller can broadcast `question` (with `opens_at` and `deadline`)
    and arm the deadline timer without rereading the state.
    """

    question: int
    opened_ms: int
    deadline_ms: int
    lead_in_ms: int = 0

    @property
    def opens_ms(self) -> int:
        return self.opened_ms + self.lead_in_ms


@dataclass(frozen=True)
class CloseQuestion:
    """Question `question` is closed: stop accepting answers, score it, then reveal.

    After scoring, the caller feeds `QuestionScored(question)` back into the machine.
    """

    question: int


@dataclass(frozen=True)
class FinishGame:
    """The game is over: compute final results, broadcast `finished`, keep the results."""


@dataclass(frozen=True)
class LockChanged:
    """Joining is now refused (`locked=True`) or allowed; tell the host screen."""

    locked: bool


#: Anything `transition` may return in its effects tuple.
Effect = OpenQuestion | CloseQuestion | FinishGame | LockChanged
