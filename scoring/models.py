"""Plain values that scoring passes around: an answer, an outcome, running totals, a standing.

They are frozen so that a computed leaderboard can be cached and shared between sockets without
anyone mutating it underneath; new totals are new objects. Each checks its own invariants at
construction, so a corrupt value read back from storage fails where it is built, not three
calls later inside a sort.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.points import MAX_POINTS

__all__ = ["Answer", "Outcome", "Standing", "Totals"]


@dataclass(frozen=True)
class Answer:
    """The first answer a player gave to a question: which option, and when the server got it.

    `received_ms` is the server's clock (ms since the epoch), never the client's: players cannot
    be trusted to report their own speed.
    """

    option: int
    received_ms: int


@dataclass(frozen=True)
class Outcome:
    """What one question meant for one player.

    `answered` is False for a player who let the clock run out; the gameserver may build such
    outcomes itself so that every player gets a `reveal.you`. `time_ms` is the time taken
    (time limit minus remaining), kept even for wrong answers, but only counted when correct.
    """

    answered: bool
    correct: bool
    points: int
    time_ms: int

    def __post_init__(self) -> None:
        if self.correct and not self.answered:
            raise ValueError("an outcome cannot be correct without an answer")
        if not 0 <= self.points <= MAX_POINTS:
            raise ValueError(f"points must be within [0, {MAX_POINTS}], got {self.points}")
        if not self.correct and self.points != 0:
            raise ValueError("a wrong or missing answer scores 0")
        if self.time_ms < 0:
            raise ValueError(f"time_ms must not be negative, got {self.time_ms}")


@dataclass(frozen=True)
class Totals:
    """A player's running totals over the questions scored so far.

    `answers` counts questions answered (right or wrong), as shown in the results;
    `correct_time_ms` sums the time taken on correct answers only, which breaks ties between
    equal scores (the faster player is listed first). Default values are a new player's totals.
    """

    score: int = 0
    answers: int = 0
    correct: int = 0
    correct_time_ms: int = 0

    def __post_init__(self) -> None:
        if min(self.score, self.answers, self.correct, self.correct_time_ms) < 0:
            raise ValueError(f"totals are never negative: {self!r}")
        if self.correct > self.answers:
            raise ValueError(f"more correct answers than answers: {self!r}")

    def plus(self, outcome: Outcome) -> Totals:
        """These totals after one more question, as a new value (totals are never mutated)."""
        return Totals(
            score=self.score + outcome.points,
            answers=self.answers + (1 if outcome.answered else 0),
            correct=self.correct + (1 if outcome.correct else 0),
            correct_time_ms=self.correct_time_ms + (outcome.time_ms if outcome.correct else 0),
        )


@dataclass(frozen=True)
class Standing:
    """One line of the ranking: competition rank (equal scores share it), who, and their totals.

    The player id travels with the name because names are only unique case-insensitively per
    game and a transport needs the id to pick out each player's own line.
    """

    rank: int
    player_id: str
    name: str
    totals: Totals

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"ranks start at 1, got {self.rank}")
