"""The four phases of a game.

`WAITING -> ACTIVE -> BETWEEN -> ACTIVE -> ... -> FINISHED`; `end` may finish from any phase.
A `StrEnum` so that the value stored in Redis, sent on the wire (`phase` fields) and compared
in Lua guards is the plain upper-case name, with no mapping table to keep in sync.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Phase"]


class Phase(StrEnum):
    """Where a game is in its life; the first key of the transition table."""

    #: Lobby: players join, the host has not started yet.
    WAITING = "WAITING"
    #: A question is open and its clock is running; answers are accepted until the deadline.
    ACTIVE = "ACTIVE"
    #: The last question is closed; reveal and leaderboard are shown until the host moves on.
    BETWEEN = "BETWEEN"
    #: Over for good: results are kept, nothing but late scoring is accepted.
    FINISHED = "FINISHED"
