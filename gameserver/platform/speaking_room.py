"""The live Speaking room: `/ws/speaking/{slot_id}`, a relay of WebRTC signalling and chat.

Who may enter, and when, is `speaking_door`; the room closes its sockets when its window ends
(4410), an older socket of a party that opened the room elsewhere (4409), and the sockets of
a booking cancelled or a slot withdrawn while the room is open (4403, `speaking_keys.revoke`).

The media never touch the server: the browsers talk peer to peer. What passes here goes
through Redis, so the two parties may sit on different server processes: every message is
published on the room's channel (heard through the process's one subscriber for every room,
`speaking_channel`: classic pub/sub on one Redis, sharded pub/sub on a Redis Cluster) and pushed
to a backlog list, so a socket that joins late reads the chat and the other side's pending
signalling. Every key has a
TTL of at most `KEEP_S` (one hour, 000 §14); nothing is written to SQL but the fact that the
call took place: both parties present at once (each socket holds a presence key, refreshed
while it lives; whoever arrives second and finds the other's records it).

Negotiation (the page follows it): the grader offers whenever the candidate is present (at
its welcome, or when the candidate arrives); the candidate answers the newest offer. A party
that (re)joins wipes the pending signalling of both: it belongs to a negotiation that starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gameserver.atomic import AtomicBatch
from gameserver.platform import speaking_channel
from gameserver.platform import speaking_messages as messages
from gameserver.platform.http import database_of, live_of
from gameserver.platform.speaking_channel import FellBehind, Subscription, SubscriptionLost
from gameserver.platform.speaking_door import CLOSE_ENDED, CLOSE_FORBIDDEN, Refused, admit
from gameserver.platform.speaking_keys import KEEP_S, RoomKeys
from gameserver.ratelimit import RateLimiter
from persistence.speaking import slots
from persistence.speaking.slots import Role, SlotRecord
from persistence.types import iso, utcnow

log = logging.getLogger("livequiz.speaking")

PRESENCE_S = 45
HEARTBEAT_S = 15
BACKLOG_LENGTH = 200
RATE_PER_S, RATE_BURST, RATE_STRIKES = 20.0, 100, 50

CLOSE_TOO_BIG, CLOSE_POLICY, CLOSE_SERVER_ERROR, CLOSE_TOO_SLOW = 1009, 1008, 1011, 1013
CLOSE_REPLACED = 4409
OTHER: dict[Role, Role] = {"grader": "candidate", "candidate": "grader"}

# Deletes the presence key only while it is still this socket's (a newer socket may own it).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Refreshes it only while it is this socket's, or gone.
_REFRESH = ("local v = redis.call('GET', KEYS[1]) if v == false or v == ARGV[1] then "
            "return redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end return 0")


async def speaking_socket(websocket: WebSocket) -> None:
    await websocket.accept()  # then close with a reason: a refused handshake tells the page nothing
    try:
        record, role, _user_id = await admit(websocket, utcnow())
    except Refused as refusal:
        await websocket.close(refusal.code, refusal.reason)
        return
    live = live_of(websocket)
    # The server's frame bound (uvicorn's, for every socket) may be below the room's own.
    frame_limit = min(messages.MAX_MESSAGE_BYTES, live.settings.max_message_bytes)
    await Room(websocket, live.redis, record, role, frame_limit).run()


@dataclass
class Ending:
    code: int
    reason: str


class Room:
    """One party's socket in one room, for as long as it lives."""

    def __init__(self, websocket: WebSocket, redis: Redis | RedisCluster, record: SlotRecord, role: Role,
                 frame_limit: int = messages.MAX_MESSAGE_BYTES) -> None:
        self.websocket = websocket
        self.frame_limit = frame_limit
        self.redis = redis
        self.record = record
        self.role: Role = role
        self.peer: Role = OTHER[role]
        self.keys = RoomKeys(record.slot)
        self.conn = secrets.token_hex(8)
        self.name = slots.display_name(record.grader if role == "grader" else record.candidate)
        self.send_lock = asyncio.Lock()
        self.limiter = RateLimiter(RATE_PER_S, RATE_BURST, RATE_STRIKES)
        self.held = record.booking is not None and record.booking.held_at is not None

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_text(orjson.dumps(message).decode())

    async def run(self) -> None:
        subscription: Subscription | None = None
        ending = Ending(1000, "bye")
        tasks: list[asyncio.Task[Ending | None]] = []
        try:
            subscription = await speaking_channel.subscribe(self.redis, self.keys.channel)
            peer_present = await self.enter()
            await self.welcome(peer_present)
            if peer_present:
                await self.record_held()
            tasks = [asyncio.create_task(coroutine) for coroutine in
                     (self.receive_loop(), self.relay_loop(subscription), self.heartbeat(),
                      self.until_closed())]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            ending = next(iter(done)).result() or ending
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away while we were writing to it
        except Exception:
            log.exception("speaking room %s failed", self.record.slot.id)
            ending = Ending(CLOSE_SERVER_ERROR, "the room is unavailable; try again")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await self.leave()
            if subscription is not None:
                await subscription.close()
            if self.websocket.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await self.websocket.close(ending.code, ending.reason)

    async def enter(self) -> bool:
        """Take this role's presence, wipe stale signalling, announce; is the peer here?"""
        signals = [self.keys.signals("grader"), self.keys.signals("candidate")]
        presence, peer = self.keys.presence(self.role), self.keys.presence(self.peer)
        batch = AtomicBatch(self.redis, [*signals, presence, peer])
        batch.delete(*signals)
        batch.set(presence, self.conn, ex=PRESENCE_S)
        batch.exists(peer)
        results = await batch.execute()
        await self.publish({"type": "peer", "role": self.role, "present": True, "conn": self.conn})
        return bool(results[2])

    async def leave(self) -> None:
        with contextlib.suppress(RedisError):
            released = await self.redis.eval(_RELEASE, 1, self.keys.presence(self.role), self.conn)  # type: ignore[misc]
            if released:
                await self.publish({"type": "peer", "role": self.role, "present": False, "conn": self.conn})

    async def welcome(self, peer_present: bool) -> None:
        slot = self.record.slot
        other = self.record.candidate if self.role == "grader" else self.record.grader
        await self.send({
            "type": "welcome", "role": self.role, "slot_id": slot.id, "exam_title": self.record.exam.title,
            "name": self.name, "peer_name": slots.display_name(other), "peer_present": peer_present,
            "starts_at": iso(slot.starts_at), "ends_at": iso(slot.ends_at),
            "room_closes_at": iso(slots.room_closes_at(slot)),
            "held": self.held, "max_message_bytes": self.frame_limit,
        })
        seen = await self.redis.lrange(self.keys.chat, 0, -1)  # type: ignore[misc]
        pending = await self.redis.lrange(self.keys.signals(self.peer), 0, -1)  # type: ignore[misc]
        for raw in [*seen, *pending]:
            await self.send(self.for_client(orjson.loads(raw)))

    @staticmethod
    def for_client(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k != "conn"}

    async def record_held(self) -> None:
        if self.held:
            return
        self.held = True
        if await slots.record_held(database_of(self.websocket), self.record.slot.id or 0):
            await self.publish({"type": "call", "state": "held"})

    async def publish(self, message: dict[str, Any], backlog: str | None = None) -> None:
        """Send to every socket of the room (any process), and keep it for late joiners."""
        data = orjson.dumps(message)
        # The room's sequence key names the slot when there is no backlog to write.
        batch = AtomicBatch(self.redis, [backlog or self.keys.seq])
        if backlog is not None:
            batch.rpush(backlog, data)
            batch.ltrim(backlog, -BACKLOG_LENGTH, -1)
            batch.expire(backlog, KEEP_S)
        batch.announce(self.keys.channel, data)
        await batch.execute()

    async def relay(self, message: dict[str, Any]) -> None:
        batch = AtomicBatch(self.redis, [self.keys.seq])
        batch.incr(self.keys.seq)
        batch.expire(self.keys.seq, KEEP_S)
        number = (await batch.execute())[0]
        stamped = {**message, "id": number, "from": self.role, "conn": self.conn}
        if message["type"] == "chat":
            stamped.update(name=self.name, at=iso(utcnow()))
            await self.publish(stamped, backlog=self.keys.chat)
        else:
            await self.publish(stamped, backlog=self.keys.signals(self.role))

    async def receive_loop(self) -> Ending | None:
        while True:
            event = await self.websocket.receive()
            if event["type"] == "websocket.disconnect":
                return None
            text = event.get("text")
            data: str | bytes = text if isinstance(text, str) else event.get("bytes") or b""
            if (len(data.encode()) if isinstance(data, str) else len(data)) > self.frame_limit:
                return Ending(CLOSE_TOO_BIG, f"messages are at most {self.frame_limit} bytes")
            if not self.limiter.allow():
                if self.limiter.abusive:
                    return Ending(CLOSE_POLICY, "too many messages")
                await self.send(messages.error("rate_limited", "too many messages; slow down"))
                continue
            try:
                message = messages.parse(data)
            except messages.BadRoomMessage as bad:
                await self.send(messages.error(bad.code, bad.message))
                continue
            if message["type"] == "ping":
                await self.send({"type": "pong"})
            else:
                await self.relay(message)

    async def relay_loop(self, subscription: Subscription) -> Ending | None:
        try:
            async for data in subscription.messages():
                ending = await self.relayed(orjson.loads(data))
                if ending is not None:
                    return ending
        except SubscriptionLost as lost:  # messages may have been missed: the rejoin reads the backlog
            log.warning("speaking room %s lost its channel: %s", self.record.slot.id, lost)
            return Ending(CLOSE_SERVER_ERROR, "the room is unavailable; try again")
        except FellBehind as behind:  # the socket did not take the room's messages as they came
            log.warning("speaking room %s: a %s socket fell behind: %s", self.record.slot.id, self.role, behind)
            return Ending(CLOSE_TOO_SLOW, "this connection fell behind the room; try again")
        return None

    async def relayed(self, message: dict[str, Any]) -> Ending | None:
        """Act on one message of the room's channel; an `Ending` closes this socket."""
        kind = message.get("type")
        if kind == "revoke":
            if self.role in message["roles"]:
                self.held = True  # nothing more to record: the booking is gone
                return Ending(CLOSE_FORBIDDEN, str(message["reason"]))
            await self.send({"type": "peer", "present": False})
        elif kind == "peer":
            if message["role"] == self.role:
                if message["conn"] != self.conn and message["present"]:
                    return Ending(CLOSE_REPLACED, "you opened this room in another window")
                return None
            await self.send({"type": "peer", "present": message["present"]})
            if message["present"]:
                await self.record_held()
        elif kind == "signal" and message.get("from") == self.role:
            return None  # our own negotiation, echoed by the channel
        else:
            self.held = self.held or kind == "call"
            await self.send(self.for_client(message))
        return None

    async def heartbeat(self) -> Ending | None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self.redis.eval(_REFRESH, 1, self.keys.presence(self.role), self.conn, PRESENCE_S)  # type: ignore[misc]

    async def until_closed(self) -> Ending | None:
        left = (slots.room_closes_at(self.record.slot) - utcnow()).total_seconds()
        await asyncio.sleep(max(0.0, left))
        return Ending(CLOSE_ENDED, "the room has closed")
