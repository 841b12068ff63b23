"""Every Redis key and channel name, built in one place (DESIGN.md principle 4).

A game's keys carry its PIN as a cluster hash tag, `game:{123456}:...`, so that one game lives
in one Redis Cluster slot and its Lua scripts may touch all of them at once.
"""

from __future__ import annotations

#: Sorted set of PINs by due time (ms): questions to close or score. Global on purpose: every
#: process sweeps it, so the games of a dead process still advance.
DUE = "livequiz:due"

#: Sorted set of finished games' PINs whose results still have to reach SQL, by due time (ms).
#: Global like DUE, for the same reason: a dead process's finished games are archived by others.
ARCHIVE = "livequiz:archive"

#: Shards of each global sorted set on a Redis Cluster (`DueSets`).
CLUSTER_SHARDS = 16


class DueSets:
    """A global sorted set of PINs (`DUE`, `ARCHIVE`), as one key or as shards.

    On one Redis it is one key, as it always was: every process sweeps it in one call, and
    splitting it would only add round trips to each sweep. On a Redis Cluster one key is one
    slot, so one node would take every game's deadline writes: there it is `CLUSTER_SHARDS`
    keys, `livequiz:due:{d0}` ... `{d15}`, tags that the cluster spreads over its nodes, a
    game's shard chosen by its PIN. Every process still sweeps every shard (each claim is a
    lease on the PINs it takes, `scripts.CLAIM_DUE`), so a dead process's games are still
    advanced by the others: the guarantee does not depend on who owns which shard.
    """

    __slots__ = ("keys",)

    def __init__(self, base: str, shards: int = 1) -> None:
        tag = base.rsplit(":", 1)[-1][0]  # d for due, a for archive
        self.keys = [base] if shards <= 1 else [f"{base}:{{{tag}{i}}}" for i in range(shards)]

    def key_for(self, pin: str) -> str:
        keys = self.keys
        return keys[0] if len(keys) == 1 else keys[_pin_number(pin) % len(keys)]


def _pin_number(pin: str) -> int:
    """A stable spread of PINs (digits, usually) over shards, the same in every process."""
    return int(pin) if pin.isdigit() else sum(pin.encode())


class GameKeys:
    __slots__ = ("pin", "prefix")

    def __init__(self, pin: str) -> None:
        self.pin = pin
        self.prefix = f"game:{{{pin}}}:"

    @property
    def meta(self) -> str:
        """Hash: phase, question, deadline, version, ... and the host token digest."""
        return self.prefix + "meta"

    @property
    def quiz(self) -> str:
        """String: the quiz (JSON), immutable once the game exists."""
        return self.prefix + "quiz"

    @property
    def names(self) -> str:
        """Hash: casefolded name -> player_id (names are unique case-insensitively)."""
        return self.prefix + "names"

    @property
    def players(self) -> str:
        """Hash: player_id -> display name, in join order."""
        return self.prefix + "players"

    @property
    def tokens(self) -> str:
        """Hash: sha256(player token) -> player_id. A kicked player's entry is removed."""
        return self.prefix + "tokens"

    @property
    def totals(self) -> str:
        """Hash: player_id -> "score,answers,correct,correct_time_ms"."""
        return self.prefix + "totals"

    @property
    def connected(self) -> str:
        """Hash: player_id -> number of open sockets; absent when none."""
        return self.prefix + "conn"

    @property
    def kicked(self) -> str:
        return self.prefix + "kicked"

    @property
    def away(self) -> str:
        """Hash: player_id -> until_ms, for a player whose last socket dropped during a
        question: still waited for (no early close) until then, the reconnect grace."""
        return self.prefix + "away"

    @property
    def reveal(self) -> str:
        """String: the last reveal + leaderboard event, for players who come back in BETWEEN."""
        return self.prefix + "reveal"

    @property
    def results(self) -> str:
        """String: the final results event, kept with the PIN for results_ttl_s."""
        return self.prefix + "results"

    @property
    def links(self) -> str:
        """Hash: the game's ties to platform accounts: "host" -> user id, "exam" -> exam id,
        "p:<player_id>" -> user id of a player who joined signed in."""
        return self.prefix + "links"

    @property
    def opens(self) -> str:
        """Hash: question index -> when its answers opened (opens_at, server ms), written once
        by the step that opens it: meta holds only the running question's times."""
        return self.prefix + "opens"

    def answers(self, question: int) -> str:
        """Hash: player_id -> "option,received_ms" for one question (first answer wins)."""
        return f"{self.prefix}answers:{question}"

    @property
    def channel(self) -> str:
        """Pub/sub channel of the game's events."""
        return self.prefix + "events"

    def all_keys(self, question_count: int) -> list[str]:
        fixed = [self.meta, self.quiz, self.names, self.players, self.tokens, self.totals,
                 self.connected, self.kicked, self.reveal, self.results, self.links, self.away,
                 self.opens]
        return fixed + [self.answers(i) for i in range(question_count)]
