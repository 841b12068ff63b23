"""The Redis game store: every read and atomic write of a game's live state.

State lives in Redis under the game's PIN; a process keeps only sockets and caches (the quiz,
which never changes once created). Writes go through the Lua scripts of `scripts.py`; the hot
paths (joins, answers, socket counts) go through the batchers of `batcher.py`, and what is read
back is parsed by `records.py`.

On a Redis Cluster (`redis_client.py`) the same calls work unchanged: every script call and
every single-game pipeline names keys of one game, one slot; the pipelines over several games
(`game_phases`, `answer_counts_many`, the batchers') are split by node by the cluster client,
one command per key, never a multi-key command across slots. What differs: the scripts
publish with SPUBLISH (`scripts.sharded`), and the due set is sharded (`keys.DueSets`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Mapping
from typing import Any

import msgpack

from gameserver import scripts
from gameserver.atomic import AtomicBatch
from gameserver.clock import Clock, SystemClock
from gameserver.envelopes import Envelope, Messages
from gameserver.keys import CLUSTER_SHARDS, DUE, DueSets, GameKeys
from gameserver.publications import RecentPublications
from gameserver.quizcache import QuizCache
from gameserver.quizzes import Quiz
from gameserver.redis_client import LuaScript, RedisClient, is_cluster
from gameserver.store.batcher import ReplicaWait, answer_batcher, connect_batcher, join_batcher
from gameserver.store.records import (
    GameRecord,
    Presence,
    all_totals_from,
    answers_from,
    opens_a_question,
    players_from,
    record_from,
    state_fields,
    token_digest,
    totals_from,
    totals_to,
)
from scoring import Answer, Totals
from statemachine import GameState
from statemachine.errors import UnknownGame

__all__ = ["EXISTS_CACHE_MAX", "EXISTS_CACHE_S", "GameStore"]

#: How long a PIN found to exist is taken to exist without asking Redis again, and how many
#: such PINs a process remembers before it drops the stale ones.
EXISTS_CACHE_S = 2.0
EXISTS_CACHE_MAX = 10_000


class GameStore:
    """Reads and atomic writes of live games in one Redis (see the module docstring)."""

    def __init__(
        self, redis: RedisClient, *, game_ttl_s: int, results_ttl_s: int, clock: Clock | None = None,
        replica_wait: ReplicaWait | None = None,
    ) -> None:
        self.redis = redis
        self.clock = clock if clock is not None else SystemClock()  # the "exists" cache's time
        self.game_ttl_s = game_ttl_s
        self.results_ttl_s = results_ttl_s
        self.published = RecentPublications()
        self._quizzes = QuizCache()
        self._exists_until: dict[str, float] = {}  # PIN -> monotonic time its "exists" expires
        r = redis
        self.cluster = is_cluster(redis)
        self.due = DueSets(DUE, CLUSTER_SHARDS if self.cluster else 1)
        variant = scripts.sharded if self.cluster else str  # SPUBLISH on a cluster
        self._create = LuaScript(r, scripts.CREATE_GAME)
        self._joins = join_batcher(r, game_ttl_s)
        self._answers = answer_batcher(r, game_ttl_s, replica_wait)
        self._connects = connect_batcher(r, game_ttl_s)
        self._all_answered = LuaScript(r, scripts.ALL_CONNECTED_ANSWERED)
        self._commit = LuaScript(r, variant(scripts.COMMIT))
        self._apply_scores = LuaScript(r, variant(scripts.APPLY_SCORES))
        self._finish = LuaScript(r, variant(scripts.FINISH))
        self._kick = LuaScript(r, variant(scripts.KICK))
        self._claim_due = LuaScript(r, scripts.CLAIM_DUE)
        self._release_due = LuaScript(r, scripts.RELEASE_DUE)

    # -- games ---------------------------------------------------------------------------

    async def create_game(self, pin: str, quiz: Quiz, host_digest: str, now_ms: int) -> bool:
        keys = GameKeys(pin)
        state = GameState(
            question_count=len(quiz.questions),
            time_limits_ms=tuple(q.time_limit_ms for q in quiz.questions),
            lead_in_ms=quiz.lead_in_ms,
        )
        fields = state_fields(state) | {
            "title": quiz.title,
            "host": host_digest,
            "players": "0",
            "count": str(len(quiz.questions)),
            "limits": ",".join(str(q.time_limit_ms) for q in quiz.questions),
            "created": str(now_ms),
            "gid": secrets.token_hex(8),
        }
        flat = [item for pair in fields.items() for item in pair]
        stored = quiz.to_json()
        created = await self._create(keys=[keys.meta, keys.quiz], args=[self.game_ttl_s, stored, *flat])
        if created:
            self._quizzes.put(pin, fields["gid"], quiz, len(stored))
        return bool(created)

    async def game_phases(self, pins: list[str]) -> dict[str, str | None]:
        """Each PIN's game phase, None where there is no game (any more), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for pin in pins:
                pipe.hget(GameKeys(pin).meta, "phase")
            found = await pipe.execute()
        return {pin: phase.decode() if phase else None for pin, phase in zip(pins, found, strict=True)}

    async def load(self, pin: str) -> GameRecord | None:
        raw = await self.redis.hgetall(GameKeys(pin).meta)
        if not raw:
            return None
        record = record_from(pin, raw)
        self._quizzes.seen(pin, record.game_id)
        return record

    async def exists(self, pin: str) -> bool:
        """Whether the game exists. A yes is remembered for `EXISTS_CACHE_S`: every socket of a
        join storm checks its PIN on connect, and one round trip each was a tenth of the
        storm's CPU. A game that vanished meanwhile is still refused, by the join itself."""
        now = self.clock.monotonic()
        if self._exists_until.get(pin, 0.0) > now:
            return True
        found = bool(await self.redis.exists(GameKeys(pin).meta))
        if found:
            if len(self._exists_until) >= EXISTS_CACHE_MAX:
                self._exists_until = {p: t for p, t in self._exists_until.items() if t > now}
            self._exists_until[pin] = now + EXISTS_CACHE_S
        return found

    def forget_exists(self, pin: str) -> None:
        """Drop a remembered "exists" for a game found gone."""
        self._exists_until.pop(pin, None)

    async def quiz(self, pin: str, game_id: str | None = None) -> Quiz:
        """The quiz of game `game_id` at `pin` (of a record just read), or of the game there now.
        Read with the game's id in one atomic step, so it is kept under the right game."""
        quiz = self._quizzes.get(pin, game_id) if game_id is not None else None
        if quiz is not None:
            return quiz
        keys = GameKeys(pin)
        batch = AtomicBatch(self.redis, [keys.meta, keys.quiz])
        batch.hmget(keys.meta, ["gid", "created"])
        batch.get(keys.quiz)
        (gid, created), raw = await batch.execute()
        if raw is None:
            raise UnknownGame()
        quiz = Quiz.from_json(raw)
        self._quizzes.put(pin, (gid or created or b"").decode(), quiz, len(raw))
        return quiz

    def cached_quiz(self, pin: str) -> Quiz | None:
        """The quiz of the game this process last saw at `pin`, if it holds it (no round trip)."""
        return self._quizzes.get(pin)

    def forget(self, pin: str) -> None:
        self._quizzes.forget(pin)

    async def commit(self, pin: str, old: GameState, new: GameState, event: Envelope | None) -> bool:
        """Compare-and-set from `old` to `new`; publishes `event` in the same atomic step. A
        step that opens a question also records when its answers open (`opens_at`)."""
        keys = GameKeys(pin)
        fields = state_fields(new)
        flat = [item for pair in fields.items() for item in pair]
        payload = event.to_json() if event is not None else b""
        script_keys = [keys.meta]
        args: list[Any] = [str(old.version), len(fields), *flat, keys.channel, payload]
        if opens_a_question(old, new):
            script_keys.append(keys.opens)
            args += [new.question, new.opens_ms, self.game_ttl_s]
        result = await self._commit(keys=script_keys, args=args)
        if result == -1:
            raise UnknownGame()
        return bool(result == 1)

    # -- players -------------------------------------------------------------------------

    async def join(
        self, pin: str, *, name: str, name_key: str, player_id: str, token: str, max_players: int,
        connect: bool = False,
    ) -> GameRecord:
        """Adds the player (and, with `connect`, counts its socket as open); returns the game
        as it is right after the join (and the others that went to Redis in the same batch)."""
        record = await self._joins.submit(
            (pin, max_players), (name_key, player_id, name, token_digest(token), 1 if connect else 0)
        )
        self._quizzes.seen(pin, record.game_id)
        return record

    async def player_for_token(self, pin: str, token: str) -> str | None:
        keys = GameKeys(pin)
        player_id = await self.redis.hget(keys.tokens, token_digest(token))
        if player_id is None or await self.redis.sismember(keys.kicked, player_id):
            return None
        return str(player_id.decode())

    async def player_name(self, pin: str, player_id: str) -> str | None:
        name = await self.redis.hget(GameKeys(pin).players, player_id)
        return name.decode() if name is not None else None

    async def players(self, pin: str) -> dict[str, str]:
        """player_id -> name, in join order (Redis small hashes keep insertion order; large
        ones do not, so callers must not rely on order)."""
        return players_from(await self.redis.hgetall(GameKeys(pin).players))

    async def kick(self, pin: str, player_id: str, name_key: str) -> int:
        keys = GameKeys(pin)
        return int(
            await self._kick(
                keys=[keys.meta, keys.players, keys.names, keys.totals, keys.kicked, keys.connected, keys.away],
                args=[player_id, name_key, keys.channel],
            )
        )

    async def connect(self, pin: str, player_id: str, delta: int, away_until_ms: int = 0) -> Presence:
        """Counts one socket of the player opening (+1) or closing (-1), across processes. A
        last socket closing during a question with `away_until_ms` leaves the player waited
        for until then (the reconnect grace; never past the deadline)."""
        return await self._connects.submit(pin, (player_id, delta, away_until_ms))

    # -- answers and scores --------------------------------------------------------------

    def answer_soon(
        self, pin: str, player_id: str, question: int, option: int, received_ms: int
    ) -> asyncio.Future[tuple[int, int]]:
        """Records the first answer; resolves to (answered, connected) for question `question`."""
        return self._answers.submit_soon((pin, question), (player_id, option, received_ms))

    async def all_connected_answered(self, pin: str, question: int, now_ms: int = 0) -> bool:
        """Whether every connected player, and every player away for less than the reconnect
        grace at `now_ms`, has answered the running `question`."""
        keys = GameKeys(pin)
        result = await self._all_answered(
            keys=[keys.meta, keys.answers(question), keys.connected, keys.away], args=[question, now_ms]
        )
        return bool(result == 1)

    async def answer_counts_many(self, games: list[tuple[str, int]]) -> list[tuple[int, int]]:
        """(answered, connected) of each (pin, question), for the hosts' answer counters: every
        game of the process in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for pin, question in games:
                keys = GameKeys(pin)
                pipe.hlen(keys.answers(question))
                pipe.hlen(keys.connected)
            flat = await pipe.execute()
        return [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def has_answered(self, pin: str, question: int, player_id: str) -> bool:
        return bool(await self.redis.hexists(GameKeys(pin).answers(question), player_id))

    async def answers(self, pin: str, question: int) -> dict[str, Answer]:
        return answers_from(await self.redis.hgetall(GameKeys(pin).answers(question)))

    async def opens_at(self, pin: str) -> dict[int, int]:
        """Question index -> when its answers opened (server ms), for every question opened."""
        raw = await self.redis.hgetall(GameKeys(pin).opens)
        return {int(question): int(at) for question, at in raw.items()}

    async def totals(self, pin: str) -> dict[str, Totals]:
        return all_totals_from(await self.redis.hgetall(GameKeys(pin).totals))

    async def scoring_inputs(
        self, pin: str, question: int
    ) -> tuple[dict[str, str], dict[str, Answer], dict[str, Totals]]:
        """Players (id -> name), the question's first answers and everyone's totals, in one
        round trip: at 10,000 players each is a 10,000-entry hash, read while every player
        waits for the reveal."""
        keys = GameKeys(pin)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.players)
            pipe.hgetall(keys.answers(question))
            pipe.hgetall(keys.totals)
            players, answers, totals = await pipe.execute()
        return players_from(players), answers_from(answers), all_totals_from(totals)

    async def player_totals(self, pin: str, player_id: str) -> Totals:
        raw = await self.redis.hget(GameKeys(pin).totals, player_id)
        return totals_from(raw) if raw is not None else Totals()

    async def apply_scores(
        self, pin: str, old: GameState, new: GameState, updated: Mapping[str, Totals], event: Messages
    ) -> bool:
        """Compare-and-set from `old` to `new` (the machine's `QuestionScored` step, `scored_ms`
        the moment of publishing) with the question's changed totals; stores and publishes its
        reveal `event` in the same atomic step. False when the version moved meanwhile."""
        keys = GameKeys(pin)
        fields = state_fields(new) | {"scored_at": str(new.scored_ms)}
        # One msgpack argument instead of 2 × players arguments: redis-py packs each argument
        # in Python (~1 µs apiece), the script unpacks the blob in C.
        flat: list[str] = []
        for player_id, totals in updated.items():
            flat += (player_id, totals_to(totals))
        payload = event.to_json()
        args: list[Any] = [str(old.version), keys.channel, payload, self.results_ttl_s, msgpack.packb(flat)]
        args += [item for pair in fields.items() for item in pair]
        result = await self._published_by(
            payload, event, self._apply_scores(keys=[keys.meta, keys.totals, keys.reveal], args=args)
        )
        return bool(result == 1)

    async def finish(self, pin: str, question_count: int, event: Messages) -> bool:
        keys = GameKeys(pin)
        others = [k for k in keys.all_keys(question_count) if k not in (keys.meta, keys.results)]
        payload = event.to_json()
        result = await self._published_by(
            payload,
            event,
            self._finish(keys=[keys.meta, keys.results, *others], args=[self.results_ttl_s, keys.channel, payload]),
        )
        return bool(result == 1)

    async def _published_by(self, payload: bytes, event: Envelope, script_call: Awaitable[Any]) -> Any:
        """Run a script that publishes `payload` (returning 1 when it did), with the event
        remembered for this process's hub first: the echo may be read before the reply."""
        self.published.add(payload, event)
        try:
            result = await script_call
        except BaseException:
            self.published.discard(payload)
            raise
        if result != 1:
            self.published.discard(payload)
        return result

    async def last_reveal(self, pin: str) -> Messages | None:
        """The last reveal and leaderboard, as published."""
        raw = await self.redis.get(GameKeys(pin).reveal)
        return Messages.from_json(raw) if raw is not None else None

    async def final_results(self, pin: str) -> Messages | None:
        """The final results (players' `you`, the hosts' table), as published."""
        raw = await self.redis.get(GameKeys(pin).results)
        return Messages.from_json(raw) if raw is not None else None

    async def publish(self, pin: str, event: Envelope) -> None:
        command = "SPUBLISH" if self.cluster else "PUBLISH"  # sharded pub/sub on a cluster
        await self.redis.execute_command(command, GameKeys(pin).channel, event.to_json())

    # -- due work (deadlines, unfinished scoring) ----------------------------------------

    async def due_add(self, pin: str, at_ms: int) -> None:
        await self.redis.zadd(self.due.key_for(pin), {pin: at_ms})

    async def due_remove(self, pin: str) -> None:
        await self.redis.zrem(self.due.key_for(pin), pin)

    async def due_score(self, pin: str) -> float | None:
        """The PIN's due time (ms), None without an entry; a claimed one ends in .5."""
        score = await self.redis.zscore(self.due.key_for(pin), pin)
        return None if score is None else float(score)

    async def due_release(self, pin: str, seen: float) -> bool:
        """Remove the PIN's entry if its due time is still `seen` (read before the game was
        loaded): an entry a step wrote since then is that step's and stays."""
        return bool(await self._release_due(keys=[self.due.key_for(pin)], args=[pin, repr(seen)]))

    async def due_claim(self, now_ms: int, lease_ms: int, limit: int = 100) -> list[str]:
        """Up to `limit` due PINs of each due set (one on one Redis), each claimed for
        `lease_ms`. Every process claims from every shard: a dead one's games still close.
        The lease ends on a half millisecond, which no step of a game writes (`due_release`)."""
        args = [now_ms, now_ms + lease_ms + 0.5, limit]
        claimed = await asyncio.gather(*(self._claim_due(keys=[key], args=args) for key in self.due.keys))
        return [p.decode() if isinstance(p, bytes) else str(p) for pins in claimed for p in pins]
