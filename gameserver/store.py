"""The Redis game store: every read and atomic write of a game's live state.

State lives in Redis under the game's PIN; a process keeps only sockets and caches (the quiz,
which never changes once created). Writes go through the Lua scripts of `scripts.py`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgpack
import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from gameserver import metrics, scripts
from gameserver.keys import DUE, GameKeys
from gameserver.quizcache import QuizCache
from gameserver.quizzes import Quiz
from scoring import Answer, Totals
from statemachine import GameState, Phase
from statemachine.errors import (
    AlreadyAnswered,
    ClientError,
    Finished,
    GameFull,
    Kicked,
    Locked,
    NameTaken,
    NotActive,
    NotOpen,
    ServerError,
    TooLate,
    UnknownGame,
    WrongQuestion,
)

#: How long a PIN found to exist is taken to exist without asking Redis again, and how many
#: such PINs a process remembers before it drops the stale ones.
EXISTS_CACHE_S = 2.0
EXISTS_CACHE_MAX = 10_000

_ERRORS: dict[str, type[ClientError]] = {
    "unknown_game": UnknownGame,
    "finished": Finished,
    "locked": Locked,
    "game_full": GameFull,
    "name_taken": NameTaken,
    "not_active": NotActive,
    "not_open": NotOpen,
    "wrong_question": WrongQuestion,
    "too_late": TooLate,
    "already_answered": AlreadyAnswered,
    "kicked": Kicked,
}


def token_digest(token: str) -> str:
    """Tokens are stored only as SHA-256 digests: a leaked Redis dump resumes no one."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(token: str, digest: str) -> bool:
    return secrets.compare_digest(token_digest(token), digest)


@dataclass(frozen=True)
class GameRecord:
    pin: str
    title: str
    host_digest: str
    players: int
    state: GameState
    #: Which game this is: a nonce written once at creation (a PIN is reused after a game's
    #: results expire; the game id is not). Games created before it existed use `created`.
    game_id: str = ""


def _state_fields(state: GameState) -> dict[str, str]:
    return {
        "phase": state.phase.value,
        "question": str(state.question),
        "opened": str(state.opened_ms),
        "deadline": str(state.deadline_ms),
        "scored": str(state.scored),
        "locked": "1" if state.locked else "0",
        "version": str(state.version),
        "lead_in": str(state.lead_in_ms),
        "changed": str(state.changed_ms),
        "next": str(state.next_ms),
    }  # `scored_at` is written by APPLY_SCORES alone, with `scored`


def _opens_a_question(old: GameState, new: GameState) -> bool:
    """Whether the step from `old` to `new` opens a question (each opens exactly once)."""
    return new.phase is Phase.ACTIVE and (old.phase is not Phase.ACTIVE or old.question != new.question)


def _record_from(pin: str, raw: Mapping[bytes, bytes]) -> GameRecord:
    meta = {k.decode(): v.decode() for k, v in raw.items()}
    limits = tuple(int(x) for x in meta["limits"].split(","))
    state = GameState(
        question_count=int(meta["count"]),
        time_limits_ms=limits,
        phase=Phase(meta["phase"]),
        question=int(meta["question"]),
        opened_ms=int(meta["opened"]),
        deadline_ms=int(meta["deadline"]),
        scored=int(meta["scored"]),
        locked=meta["locked"] == "1",
        version=int(meta["version"]),
        lead_in_ms=int(meta.get("lead_in", "0")),
        changed_ms=int(meta.get("changed", "0")),
        next_ms=int(meta.get("next", "0")),
        scored_ms=int(meta.get("scored_at", "0")),
    )
    game_id = meta.get("gid") or meta.get("created", "")
    return GameRecord(pin, meta["title"], meta["host"], int(meta["players"]), state, game_id)


def _totals_from(raw: bytes) -> Totals:
    score, answers, correct, time_ms = raw.split(b",")
    return Totals(score=int(score), answers=int(answers), correct=int(correct), correct_time_ms=int(time_ms))


def _totals_to(totals: Totals) -> str:
    return f"{totals.score},{totals.answers},{totals.correct},{totals.correct_time_ms}"


# Parsers of whole hashes, on raw bytes (int() takes ASCII digits as bytes): at 10,000 players
# per game these run while everyone waits for the reveal, so each works on all values at once
# (one join, one split, `map(int)`, tuples zipped together: loops that run in C) instead of
# splitting and converting value by value. The values are written only by our scripts; a value
# with the wrong number of fields is refused, never misread.

_new_answer = functools.partial(tuple.__new__, Answer)  # fields from our own records, in order
_new_totals = functools.partial(tuple.__new__, Totals)


def _fields(values: Collection[bytes], per_value: int, what: str) -> Iterator[int]:
    """The comma-separated integers of every value, in order, as one iterator."""
    commas = per_value - 1
    try:
        if all(value.count(b",") == commas for value in values):
            return iter(list(map(int, b",".join(values).split(b","))))
    except ValueError:  # a field that is not an integer
        pass
    raise ServerError(f"a stored {what} record is malformed")


def _players_from(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return dict(zip(map(bytes.decode, raw), map(bytes.decode, raw.values()), strict=True))


def _answers_from(raw: Mapping[bytes, bytes]) -> dict[str, Answer]:
    if not raw:
        return {}
    fields = _fields(raw.values(), 2, "answer")
    return dict(zip(map(bytes.decode, raw), map(_new_answer, zip(fields, fields, strict=True)), strict=True))


def _all_totals_from(raw: Mapping[bytes, bytes]) -> dict[str, Totals]:
    if not raw:
        return {}
    fields = _fields(raw.values(), 4, "totals")
    totals = map(_new_totals, zip(fields, fields, fields, fields, strict=True))
    return dict(zip(map(bytes.decode, raw), totals, strict=True))


class RecentPublications:
    """The big events (a reveal, the final results: ~1 MB at 10,000 players) this process
    published lately, by their exact payload. Its hub reads the same bytes back from pub/sub
    and takes the event from here instead of parsing them again (12 ms for a 10k reveal, while
    every player waits); other processes parse as usual, and events keep their pub/sub order.
    Bounded: an entry whose echo never comes (no socket of that game here) ages out."""

    def __init__(self, keep: int = 8, min_bytes: int = 64 * 1024) -> None:
        self.keep = keep
        self.min_bytes = min_bytes
        self._events: OrderedDict[bytes, Mapping[str, Any]] = OrderedDict()

    def add(self, payload: bytes, event: Mapping[str, Any]) -> None:
        if len(payload) >= self.min_bytes:
            self._events[payload] = event
            while len(self._events) > self.keep:
                self._events.popitem(last=False)

    def discard(self, payload: bytes) -> None:
        self._events.pop(payload, None)

    def take(self, payload: bytes) -> Mapping[str, Any] | None:
        """The event published as `payload`, once; None for any other payload."""
        if len(payload) < self.min_bytes:
            return None
        return self._events.pop(payload, None)


class GameStore:
    def __init__(self, redis: Redis, *, game_ttl_s: int, results_ttl_s: int) -> None:
        self.redis = redis
        self.game_ttl_s = game_ttl_s
        self.results_ttl_s = results_ttl_s
        self.published = RecentPublications()
        self._quizzes = QuizCache()
        self._exists_until: dict[str, float] = {}  # PIN -> monotonic time its "exists" expires
        r = redis
        self._create = r.register_script(scripts.CREATE_GAME)
        self._joins = join_batcher(r, game_ttl_s)
        self._answers = answer_batcher(r, game_ttl_s)
        self._connects = connect_batcher(r, game_ttl_s)
        self._all_answered = r.register_script(scripts.ALL_CONNECTED_ANSWERED)
        self._commit = r.register_script(scripts.COMMIT)
        self._apply_scores = r.register_script(scripts.APPLY_SCORES)
        self._finish = r.register_script(scripts.FINISH)
        self._kick = r.register_script(scripts.KICK)
        self._claim_due = r.register_script(scripts.CLAIM_DUE)

    # -- games ---------------------------------------------------------------------------

    async def create_game(self, pin: str, quiz: Quiz, host_digest: str, now_ms: int) -> bool:
        keys = GameKeys(pin)
        state = GameState(
            question_count=len(quiz.questions),
            time_limits_ms=tuple(q.time_limit_ms for q in quiz.questions),
            lead_in_ms=quiz.lead_in_ms,
        )
        fields = _state_fields(state) | {
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
        record = _record_from(pin, raw)
        self._quizzes.seen(pin, record.game_id)
        return record

    async def exists(self, pin: str) -> bool:
        """Whether the game exists. A yes is remembered for `EXISTS_CACHE_S`: every socket of a
        join storm checks its PIN on connect, and one round trip each was a tenth of the
        storm's CPU. A game that vanished meanwhile is still refused, by the join itself."""
        now = time.monotonic()
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
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(keys.meta, ["gid", "created"])
            pipe.get(keys.quiz)
            (gid, created), raw = await pipe.execute()
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

    async def commit(self, pin: str, old: GameState, new: GameState, event: Mapping[str, Any] | None) -> bool:
        """Compare-and-set from `old` to `new`; publishes `event` in the same atomic step. A
        step that opens a question also records when its answers open (`opens_at`)."""
        keys = GameKeys(pin)
        fields = _state_fields(new)
        flat = [item for pair in fields.items() for item in pair]
        payload = orjson.dumps(event) if event is not None else b""
        script_keys = [keys.meta]
        args: list[Any] = [str(old.version), len(fields), *flat, keys.channel, payload]
        if _opens_a_question(old, new):
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
        return _players_from(await self.redis.hgetall(GameKeys(pin).players))

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
        return _answers_from(await self.redis.hgetall(GameKeys(pin).answers(question)))

    async def opens_at(self, pin: str) -> dict[int, int]:
        """Question index -> when its answers opened (server ms), for every question opened."""
        raw = await self.redis.hgetall(GameKeys(pin).opens)
        return {int(question): int(at) for question, at in raw.items()}

    async def totals(self, pin: str) -> dict[str, Totals]:
        return _all_totals_from(await self.redis.hgetall(GameKeys(pin).totals))

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
        return _players_from(players), _answers_from(answers), _all_totals_from(totals)

    async def player_totals(self, pin: str, player_id: str) -> Totals:
        raw = await self.redis.hget(GameKeys(pin).totals, player_id)
        return _totals_from(raw) if raw is not None else Totals()

    async def apply_scores(
        self, pin: str, question: int, updated: Mapping[str, Totals], event: Mapping[str, Any],
        now_ms: int | None = None,
    ) -> bool:
        keys = GameKeys(pin)
        scored_at = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        # One msgpack argument instead of 2 × players arguments: redis-py packs each argument
        # in Python (~1 µs apiece), the script unpacks the blob in C.
        flat: list[str] = []
        for player_id, totals in updated.items():
            flat += (player_id, _totals_to(totals))
        payload = orjson.dumps(event)
        result = await self._published_by(
            payload,
            event,
            self._apply_scores(
                keys=[keys.meta, keys.totals, keys.reveal],
                args=[question, keys.channel, payload, self.results_ttl_s, msgpack.packb(flat), scored_at],
            ),
        )
        return bool(result == 1)

    async def finish(self, pin: str, question_count: int, event: Mapping[str, Any]) -> bool:
        keys = GameKeys(pin)
        others = [k for k in keys.all_keys(question_count) if k not in (keys.meta, keys.results)]
        payload = orjson.dumps(event)
        result = await self._published_by(
            payload,
            event,
            self._finish(keys=[keys.meta, keys.results, *others], args=[self.results_ttl_s, keys.channel, payload]),
        )
        return bool(result == 1)

    async def _published_by(self, payload: bytes, event: Mapping[str, Any], script_call: Awaitable[Any]) -> Any:
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

    async def last_reveal(self, pin: str) -> dict[str, Any] | None:
        raw = await self.redis.get(GameKeys(pin).reveal)
        return orjson.loads(raw) if raw is not None else None

    async def final_results(self, pin: str) -> dict[str, Any] | None:
        raw = await self.redis.get(GameKeys(pin).results)
        return orjson.loads(raw) if raw is not None else None

    async def publish(self, pin: str, event: Mapping[str, Any]) -> None:
        await self.redis.publish(GameKeys(pin).channel, orjson.dumps(event))

    # -- due work (deadlines, unfinished scoring) ----------------------------------------

    async def due_add(self, pin: str, at_ms: int) -> None:
        await self.redis.zadd(DUE, {pin: at_ms})

    async def due_remove(self, pin: str) -> None:
        await self.redis.zrem(DUE, pin)

    async def due_claim(self, now_ms: int, lease_ms: int, limit: int = 100) -> list[str]:
        pins = await self._claim_due(keys=[DUE], args=[now_ms, now_ms + lease_ms, limit])
        return [p.decode() if isinstance(p, bytes) else str(p) for p in pins]


Item = TypeVar("Item")
Result = TypeVar("Result")
BatchKey = TypeVar("BatchKey", bound=Hashable)


class Batcher(Generic[BatchKey, Item, Result]):
    """Coalesces calls into one Redis script call per key, and the calls of all keys into one
    pipeline.

    Items submitted for the same key (one game's answers to one question, say) while a
    pipeline is in flight, or within the same event-loop tick, go into one script call; the
    calls of every key with items waiting go to Redis together, in one pipeline (one write,
    one read). One pipeline is in flight at a time and Redis runs it in order, so per-key
    order ("first answer wins") holds exactly as with one call per item. One game's burst
    becomes a few calls; a thousand games with a few answers each become one round trip
    instead of a thousand, which is what keeps the connection pool and the event loop from
    saturating.
    """

    MAX_BATCH = 1000

    def __init__(
        self,
        redis: Redis,
        script: AsyncScript,
        command: Callable[[BatchKey, list[Item]], tuple[list[str], list[Any]]],
        parse: Callable[[BatchKey, int, Any], list[Result | Exception]],
        name: str = "batch",
    ) -> None:
        self._redis = redis
        self._observe = metrics.REDIS_SECONDS.labels(name).observe
        self._script = script
        self._command = command  # (keys, args) of the script call for one key's items
        self._parse = parse  # (key, item count, the script's reply) -> one result (or refusal) per item
        self._pending: dict[BatchKey, list[tuple[Item, asyncio.Future[Result]]]] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, key: BatchKey, item: Item) -> Result:
        return await self.submit_soon(key, item)

    def submit_soon(self, key: BatchKey, item: Item) -> asyncio.Future[Result]:
        """`submit` for callers outside a coroutine: the future resolves with the item's result."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((item, future))
        if self._flusher is None:
            # Its first step runs after the rest of this tick's submissions have queued.
            self._flusher = asyncio.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                await self._send(self._take())
        finally:
            self._flusher = None

    def _take(self) -> dict[BatchKey, list[tuple[Item, asyncio.Future[Result]]]]:
        batches: dict[BatchKey, list[tuple[Item, asyncio.Future[Result]]]] = {}
        for key, waiting in list(self._pending.items()):
            batches[key] = waiting[: self.MAX_BATCH]
            if len(waiting) > self.MAX_BATCH:
                del waiting[: self.MAX_BATCH]
            else:
                del self._pending[key]
        return batches

    async def _send(self, batches: dict[BatchKey, list[tuple[Item, asyncio.Future[Result]]]]) -> None:
        try:
            started = time.perf_counter()
            replies = await self._execute(
                [self._command(key, [item for item, _ in batch]) for key, batch in batches.items()]
            )
            self._observe(time.perf_counter() - started)
        except Exception as exc:
            for batch in batches.values():
                self._fail(batch, ServerError(f"could not reach the game store: {exc}"))
            return
        for (key, batch), reply in zip(batches.items(), replies, strict=True):
            if isinstance(reply, Exception):  # this game's call failed; the others stand
                self._fail(batch, ServerError(f"the game store refused a call: {reply}"))
                continue
            try:
                self._resolve(batch, self._parse(key, len(batch), reply))
            except Exception as exc:  # a reply we cannot read must not leave a caller waiting
                self._fail(batch, ServerError(f"unexpected store reply: {exc}"))

    @staticmethod
    def _fail(batch: list[tuple[Item, asyncio.Future[Result]]], error: Exception) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)

    async def _execute(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """One pipeline of EVALSHA calls; a script Redis does not know (it restarted, or was
        flushed) is loaded and those calls alone are sent again: they were not run."""
        replies = await self._pipeline(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            self._script.sha = await self._redis.script_load(self._script.script)
            for i, reply in zip(missing, await self._pipeline([calls[i] for i in missing]), strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        sha = self._script.sha
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    @staticmethod
    def _resolve(batch: list[tuple[Item, asyncio.Future[Result]]], results: list[Result | Exception]) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


JoinItem = tuple[str, str, str, str, int]  # name_key, player_id, name, token_digest, connect


def join_batcher(redis: Redis, ttl_s: int) -> Batcher[tuple[str, int], JoinItem, GameRecord]:
    """Joins to one game (keyed with the player cap), by one JOIN_MANY call per batch; each
    join's result is the game's record right after the batch, or its refusal."""

    def command(key: tuple[str, int], items: list[JoinItem]) -> tuple[list[str], list[Any]]:
        pin, max_players = key
        keys = GameKeys(pin)
        args: list[Any] = [max_players, ttl_s, keys.channel]
        for item in items:
            args.extend(item)
        return [keys.meta, keys.names, keys.players, keys.tokens, keys.connected], args

    def parse(key: tuple[str, int], items: int, result: list[Any]) -> list[GameRecord | Exception]:
        statuses, flat = result[:items], result[items:]
        record = _record_from(key[0], dict(zip(flat[::2], flat[1::2], strict=True))) if flat else None
        outcomes: list[GameRecord | Exception] = []
        for raw in statuses:
            status = raw.decode() if isinstance(raw, bytes) else str(raw)
            if status == "ok" and record is not None:
                outcomes.append(record)
            else:
                outcomes.append(_ERRORS.get(status, ServerError)())
        return outcomes

    return Batcher(redis, redis.register_script(scripts.JOIN_MANY), command, parse, "join")


AnswerItem = tuple[str, int, int]  # player_id, option, received_ms


def answer_batcher(redis: Redis, ttl_s: int) -> Batcher[tuple[str, int], AnswerItem, tuple[int, int]]:
    """Answers to one game's question, recorded by one ANSWER_MANY call per batch; each
    answer's result is (answered, connected) for the question, or its refusal."""

    def command(key: tuple[str, int], items: list[AnswerItem]) -> tuple[list[str], list[Any]]:
        pin, question = key
        keys = GameKeys(pin)
        args: list[Any] = [question, ttl_s]
        for player_id, option, received_ms in items:
            args += (player_id, option, received_ms)
        return [keys.meta, keys.answers(question), keys.connected, keys.kicked], args

    def parse(_key: tuple[str, int], _items: int, result: list[Any]) -> list[tuple[int, int] | Exception]:
        counts = (int(result[0]), int(result[1]))
        outcomes: list[tuple[int, int] | Exception] = []
        for raw in result[2:]:
            status = raw.decode() if isinstance(raw, bytes) else str(raw)
            outcomes.append(counts if status == "ok" else _ERRORS.get(status, ServerError)())
        return outcomes

    return Batcher(redis, redis.register_script(scripts.ANSWER_MANY), command, parse, "answer")


@dataclass(frozen=True)
class Presence:
    """A player's open sockets after a connect/disconnect, and the game's phase then."""

    sockets: int
    phase: str
    question: int


def connect_batcher(redis: Redis, ttl_s: int) -> Batcher[str, tuple[str, int, int], Presence]:
    """Socket opens and closes of one game (player_id, delta, away_until_ms), counted by one
    CONNECT_MANY call per batch (a game's end closes every socket at once)."""

    def command(pin: str, items: list[tuple[str, int, int]]) -> tuple[list[str], list[Any]]:
        keys = GameKeys(pin)
        args: list[Any] = [ttl_s]
        for item in items:
            args.extend(item)
        return [keys.connected, keys.meta, keys.away], args

    def parse(_key: str, _items: int, result: list[Any]) -> list[Presence | Exception]:
        phase = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
        question = int(result[1])
        return [Presence(int(n), phase, question) for n in result[2:]]

    return Batcher(redis, redis.register_script(scripts.CONNECT_MANY), command, parse, "connect")
