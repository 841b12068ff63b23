"""Several Redis commands as one atomic step, in one round trip, on one Redis or in one slot
of a cluster: what `redis.pipeline(transaction=True)` is for, without its cluster cost.

Why not a transaction pipeline. redis-py's asyncio cluster client (7.4) queues each command of
a `MULTI`/`EXEC` pipeline (`TransactionStrategy.execute_command`) by starting a thread that runs
a fresh event loop (`asyncio.run`) to find the command's slot, and joins it: the server's own
event loop stands still meanwhile. With tens of thousands of socket tasks alive each queued
command costs milliseconds (the fresh loop's clean-up walks `asyncio.all_tasks`, whose registry
is one process-wide WeakSet). In a 1,000-game x 30-player load run on the cluster, the two
commands of `GameStore.quiz` held 89 % of a process's samples in the game phase: questions
reached players 15 s late and answers went unacknowledged.

So the commands are *recorded* with redis-py's own command builders (`CoreCommands`, the mixin
`Redis` and `Pipeline` are made of, with an `execute_command` that records instead of sending)
and run by one Lua script, `RUN_COMMANDS` below: atomic as `MULTI`/`EXEC` is (nothing else runs
in between), one `EVALSHA`, the same on both shapes. Differences a caller must know:

- replies are Redis's raw replies, not redis-py's parsed ones (`SET` gives b"OK", `EXPIRE` 1,
  `HGETALL` a flat list): no response callbacks run;
- an error in one command stops the script there (the commands before it stay applied; a
  `MULTI` would have run the ones after it too);
- `keys` must name every key the commands touch, at least one: on a cluster they choose the
  node and must share one slot (one hash tag), and a sharded publish (`announce`) is accepted
  only for a channel in that slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.commands.core import CoreCommands

from gameserver.redis_client import LuaScript, RedisClient, is_cluster

__all__ = ["RUN_COMMANDS", "AtomicBatch"]

#: KEYS: every key the commands touch (on a cluster: one slot, the node the script runs on)
#: ARGV: the commands, each as its word count followed by its words
#: Returns the replies, one per command, in order (a nil reply is nil in its place).
RUN_COMMANDS = """
local replies = {}
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  replies[#replies + 1] = redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return replies
"""


class AtomicBatch(CoreCommands):
    """Commands queued with the usual methods (`batch.hset(...)`, `batch.expire(...)`), then run
    at once by `execute()`, atomically, on `redis`'s node for `keys`. (Its own attributes are
    private: the command methods take every public name, `keys` among them.)"""

    #: Declared by redis-py's command protocol for clients that dispatch events; never used here.
    _event_dispatcher: Any = None

    def __init__(self, redis: RedisClient, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("an atomic batch names the keys it touches (at least one)")
        self._redis = redis
        self._keys = list(keys)
        self._words: list[Any] = []
        self._count = 0

    def execute_command(self, *args: Any, **options: Any) -> None:
        """Record one command (redis-py's builders call this with the command's words)."""
        self._words.append(len(args))
        self._words.extend(args)
        self._count += 1

    def announce(self, channel: str, data: bytes) -> None:
        """Publish `data` on `channel` with the batch: sharded (SPUBLISH) on a cluster, where
        the channel must be in the batch's slot; PUBLISH on one Redis."""
        self.execute_command("SPUBLISH" if is_cluster(self._redis) else "PUBLISH", channel, data)

    async def execute(self) -> list[Any]:
        """Run the recorded commands as one step; their raw replies, in order."""
        if not self._count:
            return []
        replies = await LuaScript(self._redis, RUN_COMMANDS)(self._keys, self._words)
        self._words, self._count = [], 0
        return list(replies)
