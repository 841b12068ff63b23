"""What the Telegram bridge shares across processes and machines, in Redis.

Telegram hands each update to one consumer (a second `getUpdates` gets 409), so exactly one
process leads: it holds a lease, polls (or registers the webhook), and runs every attached
chat's session. Everything a new leader needs to carry on lives here, so when the leader dies
another process takes over within `lease_ms` and the groups' games go on:

    telegram:{bot}:leader        string  owner id of the leading process ("<host>:<pid>:<random>"),
                                         PX lease_ms: operators (and tests) see which process leads
    telegram:{bot}:grants        hash    "<user id>:<pin>" -> expiry (unix ms): who proved to host what
    telegram:{bot}:chats         hash    chat id -> {"pin", "mode", "tag", "held"}: which game each chat shows
    telegram:{bot}:seats:{chat}  hash    Telegram user id -> {"player_id", "token", "name"}
    telegram:{bot}:posts:{chat}  hash    question index -> {"message_id", "poll_id"}: what is already posted
    telegram:{bot}:polls         hash    poll id -> {"chat", "question"}
    telegram:{bot}:updates       list    webhook updates taken by a process that does not lead,
                                         with their receive time, for the leader to handle
    telegram:{bot}:spent:{chat}  zset    the chat's budget spent in the last window (`ledger`)
    telegram:{bot}:pause:{chat}  string  until when (unix ms) a 429 paused the chat (`ledger`)

A chat is claimed with a compare-and-set (`claim_chat`): of two processes attaching games to
one chat at the same instant exactly one wins, and the other sees the winner's game.

`{bot}` is a hash tag: on a Redis Cluster every key of one bot lives in one slot, so `DROP`
can forget a chat's record, seats and posts in one atomic step. One slot for a bot is
acceptable: its traffic is bounded by Telegram's own limits (about 30 messages a second for a
whole bot, 20 a minute in a group), a trickle beside a game's.

Per-chat hashes expire `STATE_TTL_S` after their last write (a game lasts hours, not days).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis, RedisCluster

from transports.telegram.ledger import ChatLedger

STATE_TTL_S = 24 * 3600
MAX_QUEUED_UPDATES = 10_000

# KEYS: leader.  ARGV: owner, lease_ms.  1 while `owner` leads (lease extended), else 0.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: leader.  ARGV: owner.  Gives the lease up if `owner` holds it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# KEYS: chats.  ARGV: chat, expected tag ("" = no attachment), record.  Writes the record only
# while the chat shows the expected attachment: 1, else 0 (another process got there first).
CLAIM = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local tag = ''
if current then tag = cjson.decode(current)['tag'] end
if tag ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# KEYS: chats, seats, posts.  ARGV: chat, tag.  Forgets the chat's game if it still shows `tag`.
DROP = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current)['tag'] == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2], KEYS[3])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class ChatRecord:
    pin: str
    mode: str
    tag: str
    held: bool = False  # the chat's placeholder seat is in the game's connected set (taken once)


def key_prefix(bot_id: str) -> str:
    """`telegram:{<bot id>}:`, the start of every key of the bot (a cluster hash tag)."""
    return f"telegram:{{{bot_id}}}:"


class SharedState:
    def __init__(self, redis: Redis | RedisCluster, bot_id: str) -> None:
        self.redis = redis
        self.prefix = key_prefix(bot_id)
        # which process leads, readable in the lease key; the random part tells restarts apart
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        self._claim = redis.register_script(CLAIM)
        self._drop = redis.register_script(DROP)

    def _key(self, name: str) -> str:
        return self.prefix + name

    # -- the lease -----------------------------------------------------------------------

    async def lead(self, lease_ms: int) -> bool:
        """Take or keep the lease; whether this process leads now."""
        if await self._renew(keys=[self._key("leader")], args=[self.owner, lease_ms]) == 1:
            return True
        return bool(await self.redis.set(self._key("leader"), self.owner, nx=True, px=lease_ms))

    async def resign(self) -> None:
        await self._release(keys=[self._key("leader")], args=[self.owner])

    def ledger(self, chat_id: int, window_s: float) -> ChatLedger:
        """The chat's spent budget, as every leader sees it."""
        return ChatLedger(self.redis, self.prefix, chat_id, window_s, self.owner)

    # -- grants --------------------------------------------------------------------------

    async def grant(self, user_id: int, pin: str, expires_ms: int) -> None:
        await self.redis.hset(self._key("grants"), f"{user_id}:{pin}", str(expires_ms))

    async def grant_expiry(self, user_id: int, pin: str) -> int | None:
        raw = await self.redis.hget(self._key("grants"), f"{user_id}:{pin}")
        return int(raw) if raw is not None else None

    async def revoke(self, user_id: int, pin: str) -> None:
        await self.redis.hdel(self._key("grants"), f"{user_id}:{pin}")

    # -- attached chats ------------------------------------------------------------------

    async def claim_chat(self, chat_id: int, record: ChatRecord, expected_tag: str | None) -> bool:
        """Record what the chat shows, only if it still shows the attachment `expected_tag`
        (None: nothing). False: another process changed it first (read it again)."""
        value = orjson.dumps({"pin": record.pin, "mode": record.mode, "tag": record.tag, "held": record.held}).decode()
        done = await self._claim(keys=[self._key("chats")], args=[str(chat_id), expected_tag or "", value])
        return bool(done == 1)

    async def chat(self, chat_id: int) -> ChatRecord | None:
        raw = await self.redis.hget(self._key("chats"), str(chat_id))
        return _record(raw) if raw is not None else None

    async def chats(self) -> dict[int, ChatRecord]:
        raw = await self.redis.hgetall(self._key("chats"))
        return {int(chat): _record(value) for chat, value in raw.items()}

    async def drop_chat(self, chat_id: int, tag: str) -> None:
        """Forget the chat's game, unless the chat shows another attachment by now."""
        keys = [self._key("chats"), self._key(f"seats:{chat_id}"), self._key(f"posts:{chat_id}")]
        await self._drop(keys=keys, args=[str(chat_id), tag])

    # -- a chat's seats and posts --------------------------------------------------------

    async def _put(self, name: str, field: str, value: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._key(name), field, orjson.dumps(value).decode())
            pipe.expire(self._key(name), STATE_TTL_S)
            await pipe.execute()

    async def _all(self, name: str) -> dict[str, dict[str, Any]]:
        raw = await self.redis.hgetall(self._key(name))
        return {_text(k): orjson.loads(v) for k, v in raw.items()}

    async def save_seat(self, chat_id: int, user_id: int, seat: dict[str, Any]) -> None:
        await self._put(f"seats:{chat_id}", str(user_id), seat)

    async def seats(self, chat_id: int) -> dict[int, dict[str, Any]]:
        return {int(k): v for k, v in (await self._all(f"seats:{chat_id}")).items()}

    async def save_post(self, chat_id: int, question: int, message_id: int, poll_id: str | None) -> None:
        await self._put(f"posts:{chat_id}", str(question), {"message_id": message_id, "poll_id": poll_id})
        if poll_id is not None:
            await self._put("polls", poll_id, {"chat": chat_id, "question": question})

    async def posts(self, chat_id: int) -> dict[int, dict[str, Any]]:
        return {int(k): v for k, v in (await self._all(f"posts:{chat_id}")).items()}

    # -- webhook updates taken by a process that does not lead ---------------------------

    async def push_update(self, update: dict[str, Any], received_ms: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(self._key("updates"), orjson.dumps({"at": received_ms, "update": update}))
            pipe.ltrim(self._key("updates"), -MAX_QUEUED_UPDATES, -1)
            await pipe.execute()

    async def pop_update(self, timeout_s: float) -> tuple[dict[str, Any], int] | None:
        found = await self.redis.blpop([self._key("updates")], timeout=timeout_s)
        if found is None:
            return None
        item = orjson.loads(found[1])
        return item["update"], int(item["at"])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(raw: bytes | str) -> ChatRecord:
    data = orjson.loads(raw)
    return ChatRecord(str(data["pin"]), str(data["mode"]), str(data["tag"]), bool(data.get("held", False)))
