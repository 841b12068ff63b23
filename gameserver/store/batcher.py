"""Coalescing of many small script calls into one Redis pipeline: `Batcher`, and the three
batchers the hot paths use (joins, answers, socket opens and closes).

Why: at 10,000 players a join storm or the answers to one question are thousands of calls in
a second or two; one EVALSHA round trip each would saturate the connection pool and the event
loop. The batcher sends each game's waiting items as one script call, and all games' calls as
one pipeline (on a cluster, one per master), while keeping per-game order (see `Batcher`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from gameserver import metrics, scripts
from gameserver.keys import GameKeys
from gameserver.redis_client import LuaScript, RedisClient, is_cluster
from gameserver.store.records import REFUSALS, GameRecord, Presence, record_from
from statemachine.errors import ServerError

__all__ = [
    "AnswerItem", "Batcher", "JoinItem", "NotReplicated", "ReplicaWait", "answer_batcher", "connect_batcher",
    "join_batcher",
]


@dataclass(frozen=True)
class ReplicaWait:
    """`WAIT replicas timeout_ms` after a batch's script calls, on the connection that made
    them (WAIT counts that connection's writes): a call is answered only once `replicas`
    replicas have it, so a master that dies right after cannot take it along."""

    replicas: int
    timeout_ms: int


class NotReplicated(Exception):
    """The calls were applied on the master, but too few replicas confirmed them in time."""

Item = TypeVar("Item")
Result = TypeVar("Result")
BatchKey = TypeVar("BatchKey", bound=Hashable)
Waiting = list[tuple[Item, asyncio.Future[Result]]]


@dataclass(eq=False)
class _Lane(Generic[BatchKey, Item, Result]):
    """Calls that go to Redis one pipeline at a time: what waits, and the task sending it."""

    pending: dict[BatchKey, Waiting[Item, Result]] = field(default_factory=dict)
    flusher: asyncio.Task[None] | None = None


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

    On a cluster there is one such lane per master (the node owning the key's slot when its
    first item came): a master that stops answering holds a pipeline for up to the socket
    timeout, and only its own games' calls wait behind it. A key stays in its lane while it
    has items waiting or in flight, so its order holds even if its slot moves meanwhile (the
    call then follows the MOVED reply); the lanes are flow control only.
    """

    MAX_BATCH = 1000

    def __init__(
        self,
        redis: RedisClient,
        script: LuaScript,
        command: Callable[[BatchKey, list[Item]], tuple[list[str], list[Any]]],
        parse: Callable[[BatchKey, int, Any], list[Result | Exception]],
        name: str = "batch",
        replica_wait: ReplicaWait | None = None,
    ) -> None:
        self._redis = redis
        self._replica_wait = replica_wait
        self._observe = metrics.REDIS_SECONDS.labels(name).observe
        self._script = script
        self._command = command  # (keys, args) of the script call for one key's items
        self._parse = parse  # (key, item count, the script's reply) -> one result (or refusal) per item
        self._cluster = redis if isinstance(redis, RedisCluster) else None
        self._lane: _Lane[BatchKey, Item, Result] = _Lane()  # one Redis's, or a slot no node is known for
        self._node_lanes: dict[str, _Lane[BatchKey, Item, Result]] = {}  # a cluster's, by node name
        self._lane_of: dict[BatchKey, _Lane[BatchKey, Item, Result]] = {}  # a cluster's keys with items out

    async def submit(self, key: BatchKey, item: Item) -> Result:
        return await self.submit_soon(key, item)

    def submit_soon(self, key: BatchKey, item: Item) -> asyncio.Future[Result]:
        """`submit` for callers outside a coroutine: the future resolves with the item's result."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        lane = self._lane if self._cluster is None else self._cluster_lane(key)
        lane.pending.setdefault(key, []).append((item, future))
        if lane.flusher is None:
            # Its first step runs after the rest of this tick's submissions have queued.
            lane.flusher = asyncio.create_task(self._flush(lane))
        return future

    def _cluster_lane(self, key: BatchKey) -> _Lane[BatchKey, Item, Result]:
        """The lane of the key's items still out, else that of the master owning its slot."""
        lane = self._lane_of.get(key)
        if lane is None:
            assert self._cluster is not None
            try:
                node = self._cluster.get_node_from_key(self._command(key, [])[0][0])
            except (RedisError, RedisClusterException):  # no slot map yet, or the slot uncovered
                node = None
            lane = self._lane if node is None else self._node_lanes.setdefault(node.name, _Lane())
            self._lane_of[key] = lane
        return lane

    async def _flush(self, lane: _Lane[BatchKey, Item, Result]) -> None:
        try:
            while lane.pending:
                batches = self._take(lane.pending)
                try:
                    await self._send(batches)
                finally:
                    if self._cluster is not None:
                        for key in batches:  # nothing of it is out any more: it may change lane
                            if key not in lane.pending:
                                self._lane_of.pop(key, None)
        finally:
            lane.flusher = None

    def _take(self, pending: dict[BatchKey, Waiting[Item, Result]]) -> dict[BatchKey, Waiting[Item, Result]]:
        batches: dict[BatchKey, Waiting[Item, Result]] = {}
        for key, waiting in list(pending.items()):
            batches[key] = waiting[: self.MAX_BATCH]
            if len(waiting) > self.MAX_BATCH:
                del waiting[: self.MAX_BATCH]
            else:
                del pending[key]
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
        """One pipeline of EVALSHA calls; the calls a node answered NOSCRIPT (it restarted,
        was flushed, or is a replica just promoted) were not run: they are sent again with the
        script's text (EVAL), which also caches it on that node for the next EVALSHA."""
        replies = await self._pipeline(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            again = await self._pipeline([calls[i] for i in missing], by_text=True)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: list[tuple[list[str], list[Any]]], *, by_text: bool = False) -> list[Any]:
        command, script = ("EVAL", self._script.script) if by_text else ("EVALSHA", self._script.sha)
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                # `pipe.evalsha` is this very call, but a cluster pipeline refuses the method
                # (not the command): each call's keys are one game's, so one node takes it.
                pipe.execute_command(command, script, len(keys), *keys, *args)
            groups = self._wait_after(pipe, calls) if self._replica_wait is not None else []
            replies = list(await pipe.execute(raise_on_error=False))
        wait = self._replica_wait
        for group, confirmed in zip(groups, replies[len(calls) :], strict=True):
            assert wait is not None
            if isinstance(confirmed, Exception) or int(confirmed) < wait.replicas:
                refusal = NotReplicated(f"{confirmed} of {wait.replicas} replicas within {wait.timeout_ms} ms")
                for i in group:
                    if not isinstance(replies[i], Exception):
                        replies[i] = refusal
        return replies[: len(calls)]

    def _wait_after(
        self, pipe: Pipeline | ClusterPipeline, calls: list[tuple[list[str], list[Any]]],
    ) -> list[list[int]]:
        """Queue the WAITs after the calls: one on one Redis, one per node on a cluster (its
        pipeline sends each node's commands on one connection, in order). The indices of
        the calls each WAIT covers."""
        wait = self._replica_wait
        assert wait is not None
        if not isinstance(self._redis, RedisCluster):
            pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms)
            return [list(range(len(calls)))]
        by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
        for i, (keys, _) in enumerate(calls):
            node = self._redis.get_node_from_key(keys[0])
            if node is None:  # no master known for the slot: the call itself will fail
                continue
            by_node.setdefault(node.name, (node, []))[1].append(i)
        for node, _ in by_node.values():
            pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms, target_nodes=node)
        return [indices for _, indices in by_node.values()]

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


def _register(redis: RedisClient, script: str) -> LuaScript:
    """The script, in its cluster variant on a Redis Cluster (SPUBLISH: `scripts.sharded`)."""
    return LuaScript(redis, scripts.sharded(script) if is_cluster(redis) else script)


def join_batcher(redis: RedisClient, ttl_s: int) -> Batcher[tuple[str, int], JoinItem, GameRecord]:
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
        record = record_from(key[0], dict(zip(flat[::2], flat[1::2], strict=True))) if flat else None
        outcomes: list[GameRecord | Exception] = []
        for raw in statuses:
            status = raw.decode() if isinstance(raw, bytes) else str(raw)
            if status == "ok" and record is not None:
                outcomes.append(record)
            else:
                outcomes.append(REFUSALS.get(status, ServerError)())
        return outcomes

    return Batcher(redis, _register(redis, scripts.JOIN_MANY), command, parse, "join")


AnswerItem = tuple[str, int, int]  # player_id, option, received_ms


def answer_batcher(
    redis: RedisClient, ttl_s: int, replica_wait: ReplicaWait | None = None,
) -> Batcher[tuple[str, int], AnswerItem, tuple[int, int]]:
    """Answers to one game's question, recorded by one ANSWER_MANY call per batch; each
    answer's result is (answered, connected) for the question, or its refusal. With
    `replica_wait`, acknowledged only once replicas have it (`ReplicaWait`)."""

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
            outcomes.append(counts if status == "ok" else REFUSALS.get(status, ServerError)())
        return outcomes

    return Batcher(redis, _register(redis, scripts.ANSWER_MANY), command, parse, "answer", replica_wait)


def connect_batcher(redis: RedisClient, ttl_s: int) -> Batcher[str, tuple[str, int, int], Presence]:
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

    return Batcher(redis, _register(redis, scripts.CONNECT_MANY), command, parse, "connect")
