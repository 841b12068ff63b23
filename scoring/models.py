"""Plain values that scoring passes around: an answer, an outcome, running totals, a standing.

They are immutable so that a computed leaderboard can be cached and shared between sockets
without anyone mutating it underneath; new totals are new objects. Each checks its own
invariants when built by its constructor, so a corrupt value read back from storage fails where
it is built, not three calls later inside a sort.

They are `NamedTuple`s rather than frozen dataclasses because a game of 10,000 players builds
three of them per player per question: a tuple is built in C in a fraction of the time. They
keep the dataclass value semantics all the same (see `_value_semantics`): keyword construction
with defaults, `repr`, equality and hash by fields, equal only to a value of the same class,
and no ordering. Being tuples, they can also be unpacked, which the hot loops here use; the
named-tuple API (`_replace`, `_asdict`) stands in for `dataclasses.replace` and `asdict`.

Values this package computes itself from already valid values (an outcome from an answer, new
totals from totals plus an outcome, a standing from a sorted position) are built with
`_trusted`, which skips the checks; everything else goes through the checking constructors.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

from scoring.points import MAX_POINTS

__all__ = ["Answer", "Outcome", "Standing", "Totals"]

#: `_trusted(Totals, (score, answers, correct, correct_time_ms))` builds a value from its fields
#: in order *without* checking them. Only for values computed in this package from values that
#: were valid already; the hot loops use it to avoid checking 10,000 values they just derived.
_trusted = tuple.__new__

_V = TypeVar("_V", bound=tuple[Any, ...])


def _eq(self: tuple[Any, ...], other: object) -> Any:
    if other.__class__ is self.__class__:
        return tuple.__eq__(self, other)
    # Another tuple would otherwise compare item by item from its side; anything else decides.
    return False if isinstance(other, tuple) else NotImplemented


def _ne(self: tuple[Any, ...], other: object) -> Any:
    if other.__class__ is self.__class__:
        return tuple.__ne__(self, other)
    return True if isinstance(other, tuple) else NotImplemented


def _unordered(self: tuple[Any, ...], other: object) -> Any:
    return NotImplemented


def _make(cls: type[_V], iterable: Any) -> _V:
    return cls(*iterable)


def _value_semantics(cls: type[_V]) -> type[_V]:
    """Give a `NamedTuple` subclass the semantics of a frozen dataclass.

    A bare named tuple equals any tuple with equal items (so `Totals()` would equal `NO_ANSWER`,
    as `False == 0`) and orders like one. Here equality holds only between values of the same
    class, ordering raises `TypeError`, and the hash stays the hash of the fields. `_make` (and
    so `_replace`) goes through the checking constructor, like `dataclasses.replace` did.
    """
    methods: dict[str, object] = {
        "__eq__": _eq,
        "__ne__": _ne,
        "__hash__": tuple.__hash__,
        "__lt__": _unordered,
        "__le__": _unordered,
        "__gt__": _unordered,
        "__ge__": _unordered,
        "_make": classmethod(_make),
    }
    for name, method in methods.items():
        setattr(cls, name, method)
    return cls


class _AnswerFields(NamedTuple):
    option: int
    received_ms: int


@_value_semantics
class Answer(_AnswerFields):
    """The first answer a player gave to a question: which option, and when the server got it.

    `received_ms` is the server's clock (ms since the epoch), never the client's: players cannot
    be trusted to report their own speed.
    """

    __slots__ = ()


class _OutcomeFields(NamedTuple):
    answered: bool
    correct: bool
    points: int
    time_ms: int


@_value_semantics
class Outcome(_OutcomeFields):
    """What one question meant for one player.

    `answered` is False for a player who let the clock run out; the gameserver may build such
    outcomes itself so that every player gets a `reveal.you`. `time_ms` is the time taken
    (time limit minus remaining), kept even for wrong answers, but only counted when correct.
    """

    __slots__ = ()

    def __new__(cls, answered: bool, correct: bool, points: int, time_ms: int) -> Outcome:
        if correct and not answered:
            raise ValueError("an outcome cannot be correct without an answer")
        if not 0 <= points <= MAX_POINTS:
            raise ValueError(f"points must be within [0, {MAX_POINTS}], got {points}")
        if not correct and points != 0:
            raise ValueError("a wrong or missing answer scores 0")
        if time_ms < 0:
            raise ValueError(f"time_ms must not be negative, got {time_ms}")
        return _trusted(cls, (answered, correct, points, time_ms))


class _TotalsFields(NamedTuple):
    score: int = 0
    answers: int = 0
    correct: int = 0
    correct_time_ms: int = 0


@_value_semantics
class Totals(_TotalsFields):
    """A player's running totals over the questions scored so far.

    `answers` counts questions answered (right or wrong), as shown in the results;
    `correct_time_ms` sums the time taken on correct answers only, which breaks ties between
    equal scores (the faster player is listed first). Default values are a new player's totals.
    """

    __slots__ = ()

    def __new__(cls, score: int = 0, answers: int = 0, correct: int = 0, correct_time_ms: int = 0) -> Totals:
        totals = _trusted(cls, (score, answers, correct, correct_time_ms))
        if min(score, answers, correct, correct_time_ms) < 0:
            raise ValueError(f"totals are never negative: {totals!r}")
        if correct > answers:
            raise ValueError(f"more correct answers than answers: {totals!r}")
        return totals

    def plus(self, outcome: Outcome) -> Totals:
        """These totals after one more question. Totals are never mutated: this is a new value, or
        these same totals when the player did not answer."""
        score, answers, correct, correct_time_ms = self
        answered, was_correct, points, time_ms = outcome
        if was_correct:  # a correct outcome is also answered
            return _trusted(Totals, (score + points, answers + 1, correct + 1, correct_time_ms + time_ms))
        # A wrong or missing answer scores 0 (Outcome checks it), so only `answers` can change.
        return _trusted(Totals, (score, answers + 1, correct, correct_time_ms)) if answered else self


#: A new player's totals, shared (values are immutable).
_ZERO_TOTALS = Totals()


class _StandingFields(NamedTuple):
    rank: int
    player_id: str
    name: str
    totals: Totals


@_value_semantics
class Standing(_StandingFields):
    """One line of the ranking: competition rank (equal scores share it), who, and their totals.

    The player id travels with the name because names are only unique case-insensitively per
    game and a transport needs the id to pick out each player's own line.
    """

    __slots__ = ()

    def __new__(cls, rank: int, player_id: str, name: str, totals: Totals) -> Standing:
        if rank < 1:
            raise ValueError(f"ranks start at 1, got {rank}")
        return _trusted(cls, (rank, player_id, name, totals))
