"""The Speaking room's names in Redis, and what the HTTP side does to a room.

Every key has a TTL of at most `KEEP_S`, set with each write (000 §14: signalling and chat are
deleted within one hour).
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis, RedisCluster

from gameserver.atomic import AtomicBatch
from persistence.speaking.models import SpeakingSlot
from persistence.speaking.slots import Role

KEEP_S = 3600


class RoomKeys:
    """The room's Redis names, `livequiz:speaking:{ID-CREATED_MS}:...`: the slot's creation time
    beside its id keeps a reused id (SQLite may reuse the last deleted row's) from reading an
    older room's chat; the braces are a cluster hash tag (one Redis slot per room)."""

    def __init__(self, slot: SpeakingSlot) -> None:
        self.prefix = f"livequiz:speaking:{{{slot.id}-{int(slot.created_at.timestamp() * 1000)}}}:"

    @property
    def channel(self) -> str:
        return self.prefix + "channel"

    @property
    def chat(self) -> str:
        return self.prefix + "chat"

    @property
    def seq(self) -> str:
        return self.prefix + "seq"

    def signals(self, role: Role) -> str:
        """What `role` sent and the other side has perhaps not read yet."""
        return self.prefix + f"signals:{role}"

    def presence(self, role: Role) -> str:
        return self.prefix + f"present:{role}"


async def revoke(redis: Redis | RedisCluster, slot: SpeakingSlot, roles: tuple[Role, ...], reason: str) -> None:
    """A booking cancelled or a slot withdrawn while its room is open (it opens before the
    start): those `roles` leave at once, and the room forgets its chat and signalling, so
    whoever books the slot next reads nothing of it."""
    keys = RoomKeys(slot)
    gone = [keys.chat, keys.signals("grader"), keys.signals("candidate"), *(keys.presence(role) for role in roles)]
    batch = AtomicBatch(redis, gone)
    batch.delete(*gone)
    batch.announce(keys.channel, orjson.dumps({"type": "revoke", "roles": list(roles), "reason": reason}))
    await batch.execute()
