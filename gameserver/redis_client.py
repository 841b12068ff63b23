"""The game engine's Redis client: one Redis, or a Redis/Valkey Cluster, chosen by the URL.

`LIVEQUIZ_REDIS_URL=redis://...` (or `rediss://`, `unix://`) is one Redis, reached through a
bounded connection pool: the hot path, unchanged. `redis+cluster://host:port[,host:port...]`
names one or more seed nodes of a cluster (`rediss+cluster://` with TLS); the client learns
every other node and the slot map from them and follows MOVED/ASK and failovers itself.

Both clients speak the same commands for what the engine does with them: every game's keys
carry its `{pin}` hash tag, so each script call and each single-game pipeline lands on one
node. What differs is said by `is_cluster`: events go out with SPUBLISH (sharded pub/sub,
one shard instead of every node) and are read with SSUBSCRIBE (`sharded_pubsub.py`), and the
global sorted sets are split into shards (`keys.DueSets`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.exceptions import ClusterError, NoScriptError
from redis.exceptions import ConnectionError as RedisConnectionError

#: The client the engine talks to. Commands that are the same on both are called as is.
RedisClient: TypeAlias = Redis | RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS


class BadRedisUrl(ValueError):
    code = "bad_redis_url"


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def is_cluster(client: RedisClient) -> bool:
    return isinstance(client, RedisCluster)


def cluster_seeds(url: str) -> list[tuple[str, int]]:
    """The seed nodes of a `redis+cluster://[user:password@]host:port[,host:port...]` URL."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    seeds: list[tuple[str, int]] = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise BadRedisUrl(f"a cluster node must be host:port, got {part!r} in the Redis URL")
        seeds.append((host.strip("[]"), int(port)))
    return seeds


def open_redis(url: str, pool_size: int, timeout_s: float = 20) -> RedisClient:
    """A client for `url`: at most `pool_size` connections (per node, on a cluster)."""
    if not is_cluster_url(url):
        pool = BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=timeout_s)
        return Redis(connection_pool=pool)
    parts = urlsplit(url)
    username, _, password = parts.netloc.rpartition("@")[0].partition(":")  # as redis-py reads them
    return QueueingRedisCluster(
        timeout_s,
        startup_nodes=[ClusterNode(host, port) for host, port in cluster_seeds(url)],
        username=unquote(username) or None,
        password=unquote(password) or None,
        ssl=CLUSTER_SCHEMES[parts.scheme.lower()],
        max_connections=pool_size,
        socket_timeout=timeout_s,
        socket_connect_timeout=5,
        # redis-py reloads the whole slot map every 5th MOVED by closing the client's
        # connections, including those of commands in flight ("'NoneType' object has no
        # attribute 'writelines'"): during a slot migration MOVED comes in bursts (see
        # `QueueingRedisCluster`). 0: each MOVED patches its slot only.
        reinitialize_steps=0,
    )


#: How long a command is tried again while its slot migrates (redirected or TRYAGAIN each
#: time), and the first pause between tries (doubled each time, up to 0.5 s).
MIGRATION_WAIT_S = 5.0
MIGRATION_PAUSE_S = 0.05

_HOLDS_TURN: ContextVar[bool] = ContextVar("livequiz_cluster_turn", default=False)


class QueueingRedisCluster(RedisCluster):
    """A cluster client whose commands wait for a connection, as the single client's
    `BlockingConnectionPool` does, instead of failing.

    Why: redis-py's cluster node pool does not wait. Past `max_connections` connections in
    use to one node it raises `MaxConnectionsError` at once, and that error is a
    `ConnectionError`, so a pipeline takes it for a broken cluster: it closes the client's
    connections under other commands in flight and reloads the slot map ("'NoneType' object
    has no attribute 'writelines'", lost answers). So at most `max_connections` commands and
    pipelines run at once per client (an `asyncio.Semaphore`, first come first served); each
    uses at most one connection per node at a time, so no node's pool can run out. A call
    that waits `timeout_s` for its turn fails with the single pool's error ("No connection
    available."), a `RedisError` the callers answer `server_busy` / `server_error`.

    Only public methods are overridden: `execute_command` (every command, and `LuaScript`)
    and `pipeline` (the batchers' pipelines), whose `execute` takes a turn. A call made while
    holding a turn (redis-py retries a redirected pipeline command with `execute_command`)
    does not take a second one: that could wait on itself.
    """

    def __init__(self, timeout_s: float, max_connections: int, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._turns = asyncio.Semaphore(max_connections)
        self._turn_timeout_s = timeout_s

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return await self.in_turn(self._through_migrations(*args, **kwargs))

    async def _through_migrations(self, *args: Any, **kwargs: Any) -> Any:
        give_up = time.monotonic() + MIGRATION_WAIT_S
        pause = MIGRATION_PAUSE_S
        while True:
            try:
                return await super().execute_command(*args, **kwargs)
            except ClusterError as error:
                if "TTL exhausted" not in str(error) or time.monotonic() + pause > give_up:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:  # refused as by RedisCluster.pipeline
            return super().pipeline(transaction, shard_hint)
        if transaction:
            # redis-py runs each command queued in a cluster MULTI in a new thread with its own
            # event loop, joined on this one: the server stands still (gameserver/atomic.py).
            raise TypeError("no transaction pipelines on a cluster: use gameserver.atomic.AtomicBatch")
        # redis-py declares an abstract `_event_dispatcher` it sets itself (as in its own pipeline())
        return _QueueingPipeline(self, transaction)  # type: ignore[abstract]

    async def in_turn(self, call: Any) -> Any:
        """Await `call` once a turn is free; the turn is given back when it ends."""
        if _HOLDS_TURN.get():
            return await call
        try:
            await asyncio.wait_for(self._turns.acquire(), self._turn_timeout_s)
        except TimeoutError:
            call.close()  # never started: no "coroutine was never awaited" warning
            raise RedisConnectionError("No connection available.") from None
        except BaseException:  # cancelled while waiting
            call.close()
            raise
        held = _HOLDS_TURN.set(True)
        try:
            return await call
        finally:
            _HOLDS_TURN.reset(held)
            self._turns.release()


class _QueueingPipeline(ClusterPipeline):
    """A cluster pipeline that runs in one turn of its `QueueingRedisCluster`."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, QueueingRedisCluster)
        result: list[Any] = await client.in_turn(super().execute(raise_on_error, allow_redirections))
        return result


async def close_redis(client: RedisClient) -> None:
    await client.aclose()
    if isinstance(client, Redis):
        await client.connection_pool.disconnect()


class LuaScript:
    """A Lua script called by its SHA1 (EVALSHA), and by its text (EVAL) where the node does
    not know it: a Redis restarted or flushed, or a replica just promoted (scripts are not
    replicated; redis-py's own `Script` loads them on the masters its slot map names, which
    can miss the new one). EVAL also caches it there for the next EVALSHA."""

    __slots__ = ("redis", "script", "sha")

    def __init__(self, redis: RedisClient, script: str) -> None:
        self.redis = redis
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()  # the name Redis gives the script

    async def __call__(self, keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
        try:
            return await self.redis.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.redis.execute_command("EVAL", self.script, len(keys), *keys, *args)
