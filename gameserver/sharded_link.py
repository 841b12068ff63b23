"""One link of the cluster's sharded pub/sub (`sharded_pubsub.py`): a subscribed-mode
connection to one master node, read by its own task.

A plain `redis.asyncio.Connection` in RESP2, made from the cluster client's connection
settings. Replies come in the order of the commands, so the link keeps a queue of the
commands awaiting theirs: a confirmation or an error answers the oldest one. What it cannot
settle itself it reports to its owner: a message, a channel the node gave away (a
`sunsubscribe` no command asked for), the link lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any, Protocol

from redis.asyncio import Connection
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from gameserver.subscription import OnMessage

log = logging.getLogger(__name__)

#: Seconds of silence after which a link is PINGed, and then given up if still silent.
HEALTH_S = 5.0
#: Longest wait to open a link (connect and handshake) and for an SSUBSCRIBE's confirmation;
#: past it the channel is placed in the background and the hub catches up once it is.
SUBSCRIBE_TIMEOUT_S = 2.0


class LinkOwner(Protocol):
    cluster: RedisCluster
    on_message: OnMessage

    def moved_away(self, channel: str, link: Link) -> None: ...

    async def link_lost(self, link: Link) -> None: ...


class Link:
    """One subscribed-mode connection to one master node, read by its own task."""

    def __init__(self, owner: LinkOwner, host: str, port: int) -> None:
        self.owner = owner
        self.name = f"{host}:{port}"
        kwargs: dict[str, Any] = {k: v for k, v in owner.cluster.get_connection_kwargs().items()
                                  if k not in ("max_connections", "connection_class", "response_callbacks")}
        kwargs |= {"host": host, "port": port, "protocol": 2, "socket_timeout": None, "socket_keepalive": True}
        self.conn = Connection(**kwargs)
        self.channels: set[str] = set()
        self.pending: deque[tuple[str, str, asyncio.Future[None] | None]] = deque()
        self.reader: asyncio.Task[None] | None = None
        self.idle_since = time.monotonic()  # when it last had no channel
        self.idle_timer: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        try:  # the handshake waits for replies: a node that stops answering must not hold us
            await asyncio.wait_for(self.conn.connect(), SUBSCRIBE_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except BaseException:
            with contextlib.suppress(Exception):
                await self.conn.disconnect()
            raise
        self.reader = asyncio.create_task(self._read(), name=f"sharded-pubsub-{self.name}")

    async def ssubscribe(self, channel: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(("ssubscribe", channel, done))
        await self.conn.send_command("SSUBSCRIBE", channel)
        await asyncio.wait_for(done, SUBSCRIBE_TIMEOUT_S)  # a late reply answers a cancelled future

    async def sunsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self.pending.append(("sunsubscribe", channel, None))
        await self.conn.send_command("SUNSUBSCRIBE", channel)

    async def _read(self) -> None:
        pinged = False
        try:
            while True:
                try:
                    reply = await self.conn.read_response(timeout=HEALTH_S)
                except ResponseError as error:  # an error answers the oldest command
                    self._answer(error)
                    continue
                if reply is None:  # silent for HEALTH_S: one PING, then the link is given up
                    if pinged:
                        raise ConnectionError(f"no answer to PING from {self.name}")
                    pinged = True
                    await self.conn.send_command("PING")
                    continue
                pinged = False
                await self._handle(reply)
        except asyncio.CancelledError:
            raise
        except (TimeoutError, RedisError, OSError) as error:
            log.warning("sharded pub/sub link to %s lost: %s", self.name, error)
        await self.owner.link_lost(self)

    async def _handle(self, reply: Any) -> None:
        kind = reply[0]
        if kind == b"smessage":
            await self.owner.on_message(reply[1], reply[2])
        elif kind == b"ssubscribe":
            self._answer(None)
        elif kind == b"sunsubscribe":
            channel = reply[1].decode()
            if self.pending and self.pending[0][:2] == ("sunsubscribe", channel):
                self.pending.popleft()
            else:  # the node no longer serves the slot: place the channel again
                self.channels.discard(channel)
                if not self.channels:
                    self.idle_since = time.monotonic()
                self.owner.moved_away(channel, self)

    def _answer(self, error: Exception | None) -> None:
        if not self.pending:
            return
        _, channel, done = self.pending.popleft()
        if done is not None and not done.done():
            if error is None:
                # Here, not in `ssubscribe`: a `sunsubscribe` read right after must find it.
                self.channels.add(channel)
                done.set_result(None)
            else:
                done.set_exception(error)

    async def close(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        for _, _, done in self.pending:
            if done is not None and not done.done():
                done.set_exception(ConnectionError(f"sharded pub/sub link to {self.name} closed"))
        with contextlib.suppress(Exception):
            await self.conn.disconnect()
