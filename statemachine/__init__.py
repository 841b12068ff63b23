"""The game's rules, pure: phases, events, effects, the transition table and answer guards.

No asyncio, no Redis, no Starlette (DESIGN.md principle 1): the gameserver feeds events and
the current time in, stores the returned state with compare-and-set, and performs the
returned effects. Imports only `scoring` and its own modules.
"""

from __future__ import annotations

from statemachine.effects import CloseQuestion, Effect, FinishGame, LockChanged, OpenQuestion
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
from statemachine.machine import TRANSITIONS, Handler, check_answer, check_join, is_repeated_next, transition
from statemachine.names import MAX_NAME_LENGTH, name_key, normalize_name
from statemachine.phases import Phase
from statemachine.state import GameState

__all__ = [
    "MAX_NAME_LENGTH",
    "TRANSITIONS",
    "AllAnswered",
    "CloseQuestion",
    "DeadlinePassed",
    "Effect",
    "End",
    "Event",
    "FinishGame",
    "GameState",
    "Handler",
    "Lock",
    "LockChanged",
    "Next",
    "OpenQuestion",
    "Phase",
    "QuestionScored",
    "Start",
    "Unlock",
    "check_answer",
    "check_join",
    "is_repeated_next",
    "name_key",
    "normalize_name",
    "transition",
]
