"""Ranking players and shaping the ranking into the protocol's leaderboard, podium and results.

Competition ranking ("1, 2, 2, 4"): players with equal scores share a rank, and the next rank
skips as many places as were shared. Within equal scores the listing order is deterministic, so
that every process (and every test) shows the same leaderboard for the same totals:

1. smaller total time on correct answers first (the rules' tie-break: faster is listed first);
2. then the display name, case-insensitively (stable and readable for people);
3. then the player id (names may collide across case or after a rejoin; ids never do).

Only score decides the rank number; the tie-break only orders the lines that share it.
The dict shapers return exactly the fields PROTOCOL.md names, so nothing private (tokens,
ids, contact data) can leak into a broadcast by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypedDict

from scoring.models import Standing, Totals, _trusted

__all__ = [
    "LEADERBOARD_SIZE",
    "PODIUM_SIZE",
    "FinalYou",
    "LeaderboardLine",
    "PodiumLine",
    "ResultLine",
    "leaderboard",
    "podium",
    "rank",
    "rank_order",
    "results",
    "you_final",
]

#: The protocol's `leaderboard.top` holds at most this many lines.
LEADERBOARD_SIZE = 10
#: The `finished.podium` holds the first three lines.
PODIUM_SIZE = 3


# The lines below are plain dicts at run time (a final table holds one per player); typed so
# that mypy checks every shaper against the protocol's field names and types.


class LeaderboardLine(TypedDict):
    """One line of `leaderboard.top`."""

    rank: int
    name: str
    score: int


class PodiumLine(TypedDict):
    """One line of `finished.podium`."""

    rank: int
    name: str
    score: int
    answers: int


class ResultLine(TypedDict):
    """One line of the final results (the host's `finished.results`, the HTTP results)."""

    rank: int
    name: str
    score: int
    answers: int
    correct: int


class FinalYou(TypedDict):
    """One player's own line in `finished.you`."""

    rank: int
    score: int
    answers: int


def rank_order(players: Sequence[tuple[str, str, Totals]]) -> tuple[list[int], list[int]]:
    """The ranking as two lists: `order`, the input positions best first, and `ranks`, the
    competition rank of each line of `order`.

    Sorted by `(-score, correct_time_ms, name.casefold(), player_id)`, the order described in
    the module docstring, with the input position last so that the list sorts without a key
    function and keeps fully equal keys (a repeated id) in input order, as a stable sort by
    that key would. A 10,000-player reveal needs each player's rank and score, not 10,000
    `Standing` values (building them was most of `rank`'s time), so this is the core that
    `rank` wraps.
    """
    keyed = [
        (-totals.score, totals.correct_time_ms, name.casefold(), player_id, position)
        for position, (player_id, name, totals) in enumerate(players)
    ]
    keyed.sort()
    ranks: list[int] = []
    append = ranks.append
    current_rank = 0
    previous_score: int | None = None
    for line, key in enumerate(keyed, start=1):
        if key[0] != previous_score:  # the first line with a score gives the score its rank
            current_rank = line
            previous_score = key[0]
        append(current_rank)
    return [key[4] for key in keyed], ranks


def rank(players: Iterable[tuple[str, str, Totals]]) -> list[Standing]:
    """Everyone's standing, best first, from `(player_id, name, totals)` triples.

    The rank of a line is one more than the number of players with a strictly higher score,
    which is the position of the first line with that score in the sorted list. Sorted by
    `(-score, correct_time_ms, name.casefold(), player_id)`, then input order: the order
    described in the module docstring (see `rank_order`).
    """
    entries = list(players)
    order, ranks = rank_order(entries)
    standings: list[Standing] = []
    append = standings.append
    for position, line_rank in zip(order, ranks, strict=True):
        player_id, name, totals = entries[position]
        append(_trusted(Standing, (line_rank, player_id, name, totals)))
    return standings


def leaderboard(standings: Sequence[Standing], size: int = LEADERBOARD_SIZE) -> list[LeaderboardLine]:
    """The first `size` lines as `{"rank", "name", "score"}`: the `leaderboard.top` field.

    Built once per question and broadcast to everyone, so it carries no per-player data.
    """
    return [{"rank": s.rank, "name": s.name, "score": s.totals.score} for s in standings[: max(size, 0)]]


def podium(standings: Sequence[Standing]) -> list[PodiumLine]:
    """The first three lines as `{"rank", "name", "score", "answers"}`: `finished.podium`.

    "First three lines", not "ranks 1 to 3": with a four-way tie for first the podium still
    shows three people, in the deterministic tie-break order.
    """
    return [
        {"rank": s.rank, "name": s.name, "score": s.totals.score, "answers": s.totals.answers}
        for s in standings[:PODIUM_SIZE]
    ]


def results(standings: Sequence[Standing]) -> list[ResultLine]:
    """Everyone as `{"rank", "name", "score", "answers", "correct"}`: the final results table.

    This is what the host sees and what the HTTP results endpoint returns; the rules say
    results show display name, score and answer count and never contact data, so the fields
    are listed explicitly rather than dumped from the dataclass.
    """
    return [
        {
            "rank": s.rank,
            "name": s.name,
            "score": s.totals.score,
            "answers": s.totals.answers,
            "correct": s.totals.correct,
        }
        for s in standings
    ]


def you_final(standing: Standing) -> FinalYou:
    """One player's own line in `finished.you`: `{"rank", "score", "answers"}`.

    Picked out per socket from the one broadcast event, so the name is left out (the player
    knows it) and nothing of other players is included.
    """
    return {"rank": standing.rank, "score": standing.totals.score, "answers": standing.totals.answers}
