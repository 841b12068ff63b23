"""The two WebSocket endpoints of PROTOCOL.md: `/ws/play/{pin}` and `/ws/host/{pin}`.

One endpoint per role, parameterised by codec (the subprotocol picks JSON or MessagePack).
This is the transport edge: the only place where `ClientError`s become `error` messages and
close codes. The role of a socket is fixed by its endpoint and first message; every host
command is checked against it, on every message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.responses import Response
from starlette.types import Scope
from starlette.websockets import WebSocket

from gameserver import metrics
from gameserver.clock import wait_within
from gameserver.connection import Connection
from gameserver.context import LiveContext
from gameserver.iplimits import IpRateLimited, ip_limits
from gameserver.quizzes import Quiz
from gameserver.ratelimit import RateLimiter
from gameserver.store import GameRecord
from gameserver.wire_messages import ErrorMessage, Hosting, Joined, LobbyPlayer, Pong
from gameserver.wsprotocol import RAW_EXTENSION, RECEIVED_MS, RawWriter
from statemachine import End, Event, Lock, Next, Start, Unlock
from statemachine.errors import (
    BadMessage,
    ClientError,
    NotHost,
    RateAbuse,
    RateLimited,
    ServerError,
    UnknownType,
)
from transports.codecs import pick_codec

log = logging.getLogger(__name__)

PIN_PATTERN = re.compile(r"^[0-9]{6}$")
HOST_COMMANDS: dict[str, Callable[[], Event]] = {
    "start": Start, "next": Next, "end": End, "lock": Lock, "unlock": Unlock,
}
HOST_ONLY = {"host", "kick", *HOST_COMMANDS}
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_SERVER_ERROR = 1011


#: The accepted answers' counter, bound once: every answer of a 10,000-player burst passes here.
ANSWERS_ACCEPTED = metrics.ANSWERS.labels("accepted")

def ack_message(question: int) -> dict[str, Any]:
    # `wire_messages.AnswerAck(question).to_wire()`, written out: every answer of a burst
    # passes here (tests/test_wire_messages.py holds the two equal).
    return {"type": "answer_ack", "question": question, "accepted": True}


#: Headers that can carry a player's credentials (`platform.http.credentials_of`).
_CREDENTIAL_HEADERS = frozenset((b"authorization", b"cookie"))


def may_be_signed_in(scope: Scope) -> bool:
    """Whether a handshake carries credentials at all: without an Authorization or a Cookie
    header `credentials_of` finds none, and building the headers and cookies of every
    anonymous join to learn that showed in a join storm's profile."""
    return any(name in _CREDENTIAL_HEADERS for name, _ in scope.get("headers", ()))


def error_message(error: ClientError) -> dict[str, Any]:
    retry_after = error.retry_after_s if isinstance(error, IpRateLimited) else None
    return ErrorMessage(error.code, error.message, error.question, retry_after).to_wire()


def _int_field(message: dict[str, Any], name: str) -> int:
    value = message.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadMessage(f"field {name!r} must be an integer")
    return value


class Session:
    """One socket's receive loop: bounds, decoding, and turning errors into messages."""

    role = "player"

    def __init__(self, websocket: WebSocket, live: LiveContext, pin: str) -> None:
        self.websocket = websocket
        self.live = live
        self.pin = pin
        offered = list(websocket.scope.get("subprotocols") or [])
        self.codec = pick_codec(offered)
        self.subprotocol = self.codec.subprotocol if self.codec.subprotocol in offered else None
        settings = live.settings
        raw = (websocket.scope.get("extensions") or {}).get(RAW_EXTENSION)
        self.raw: RawWriter | None = raw if isinstance(raw, RawWriter) else None
        self.conn = Connection(
            websocket, self.codec, pin, self.role, settings.send_queue_frames,
            raw=self.raw, max_buffer_bytes=settings.send_buffer_bytes,
        )
        self.limiter = RateLimiter(
            settings.rate_per_s, settings.rate_burst, settings.rate_strikes, live.clock.monotonic
        )
        if self.raw is not None:  # pings and pongs spend the same budget as messages
            self.raw.share_rate_limiter(self.limiter)
        self.identified = False

    async def run(self) -> None:
        settings = self.live.settings
        clock = self.live.clock
        first_deadline = clock.monotonic() + settings.first_message_timeout_s
        open_sockets = metrics.open_sockets(self.role, self.codec.subprotocol)
        open_sockets.inc()
        try:
            while self.conn.open:
                if self.identified:
                    event = await self.websocket.receive()
                else:
                    try:
                        event = await wait_within(clock, first_deadline - clock.monotonic(), self.websocket.receive())
                    except TimeoutError:
                        self.conn.close(CLOSE_POLICY, "no join within the time allowed")
                        break
                if event["type"] == "websocket.disconnect":
                    break
                received_ms = event.get(RECEIVED_MS) or self.live.service.now_ms()
                data = event.get("text")
                if data is None:
                    data = event.get("bytes") or b""
                if len(data) > settings.max_message_bytes:
                    self.conn.close(CLOSE_TOO_BIG, "message too large")
                    break
                try:
                    self.check_rate()
                    await self.handle(self.codec.decode(data), received_ms)
                except ClientError as error:
                    self.refuse(error)
                except (ServerError, RedisError) as error:
                    self.server_failed(error)
        finally:
            open_sockets.dec()
            await self.cleanup()

    def check_rate(self) -> None:
        if not self.limiter.allow():
            metrics.RATE_LIMITED.labels("socket").inc()
            raise RateAbuse("too many messages") if self.limiter.abusive else RateLimited("slow down")

    def refuse(self, error: ClientError) -> None:
        self.conn.send(error_message(error))
        if error.close_code is not None:
            self.conn.close(error.close_code, error.code)

    def server_failed(self, error: BaseException) -> None:
        # Ours, not the client's: say so and keep the socket; the client may retry.
        log.warning("server error on game %s: %s", self.pin, error)
        self.conn.send(ErrorMessage("server_error", "try again").to_wire())

    async def handle(self, message: dict[str, Any], received_ms: int) -> None:
        raise NotImplementedError

    async def cleanup(self) -> None:
        await self.live.hub.detach(self.conn)
        if not self.conn.open:
            await self.conn.flushed(within_s=2.0)
        await self.conn.finish()

    def pong(self, message: dict[str, Any]) -> None:
        self.conn.send(Pong(message.get("t"), self.live.service.now_ms()).to_wire())


class PlayerSession(Session):
    role = "player"

    def __init__(self, websocket: WebSocket, live: LiveContext, pin: str) -> None:
        super().__init__(websocket, live, pin)
        self._answer_in_flight: asyncio.Future[tuple[int, int]] | None = None

    async def handle(self, message: dict[str, Any], received_ms: int) -> None:
        in_flight = self._answer_in_flight
        if in_flight is not None:  # a fast-path answer came first: its reply goes first
            await asyncio.wait([in_flight])
        kind = message["type"]
        if kind in HOST_ONLY:
            raise NotHost(f"{kind!r} is for the host only")
        if kind == "ping":
            self.pong(message)
        elif kind == "answer":
            if not self.identified:
                raise BadMessage("send join or resume first")
            quiz = await self.live.service.store.quiz(self.pin)
            await asyncio.wait([self.submit_answer(message, received_ms, quiz)])
        elif kind in ("join", "resume"):
            if self.identified:
                raise BadMessage("already joined")
            await (self.join(message) if kind == "join" else self.resume(message))
        else:
            raise UnknownType(f"unknown message type {kind!r}")

    async def join(self, message: dict[str, Any]) -> None:
        if not isinstance(message.get("name"), str):
            raise BadMessage("join needs a string field 'name'")
        limits = ip_limits(self.live)
        await limits.charge(limits.joins, limits.ip(self.websocket.scope))
        service = self.live.service
        seat = service.new_seat(message["name"])
        self.conn.player_id = seat.player_id
        await self.live.hub.attach(self.conn)  # subscribe before joining: miss no event after it
        try:
            record = await service.take_seat(self.pin, seat, connect=True)
        except BaseException:
            await self.live.hub.detach(self.conn)
            self.conn.player_id = None
            raise
        self.identified = True
        await self.welcome(seat.player_id, seat.token, seat.name, score=0, record=record)
        self.start_fast_path()
        if may_be_signed_in(self.websocket.scope):  # most players are not: no lookup at all
            from gameserver.platform.links import link_player  # late: the platform imports the game API

            await link_player(self.live, self.pin, seat.player_id, self.websocket)

    async def resume(self, message: dict[str, Any]) -> None:
        token = message.get("token")
        if not isinstance(token, str):
            raise BadMessage("resume needs a string field 'token'")
        service = self.live.service
        player_id, name = await service.resume(self.pin, token)
        self.conn.player_id = player_id
        self.identified = True
        await self.live.hub.attach(self.conn)  # subscribe before reading the phase: miss nothing
        await service.set_connected(self.pin, player_id, True)
        record = await service.record(self.pin)
        await self.welcome(player_id, token, name, score=await service.player_score(self.pin, player_id), record=record)
        self.start_fast_path()

    async def welcome(self, player_id: str, token: str, name: str, *, score: int, record: GameRecord) -> None:
        self.conn.send(Joined(player_id, token, name, self.pin, record.state.phase.value, score).to_wire())
        currents = await self.live.service.current_messages(self.pin, player_id=player_id, record=record)
        for current in currents:
            self.conn.send(current)
        self.live.hub.welcomed(self.conn, currents)  # then what the game broadcast meanwhile

    def start_fast_path(self) -> None:
        """From now on answers are handled straight from the socket's read callback (when the
        transport offers it, `wsprotocol.FastPath`); everything else still comes through
        `run`. Same checks, same replies, in the same order as the queued path."""
        if self.raw is not None:
            self.raw.set_fast_path(self.fast_receive)

    def fast_receive(self, data: str | bytes, received_ms: int) -> bool:
        try:
            return self._fast_answer(data, received_ms)
        except Exception as error:  # a bug here must not break the socket's read callback
            log.exception("answer fast path failed on game %s", self.pin)
            self.server_failed(error)
            return True

    def _fast_answer(self, data: str | bytes, received_ms: int) -> bool:
        player_id = self.conn.player_id
        if not self.conn.open or player_id is None or len(data) > self.live.settings.max_message_bytes:
            return False  # the queued path closes or refuses it
        if self._answer_in_flight is not None:
            return False  # replies stay in request order: the queued path waits for it first
        quiz = self.live.service.store.cached_quiz(self.pin)
        if quiz is None:
            return False
        try:
            message = self.codec.decode(data)
        except ClientError:
            return False
        if message["type"] != "answer":
            return False
        try:
            self.check_rate()  # the queued path checks it in `run`, before `handle`
            self.submit_answer(message, received_ms, quiz)
        except ClientError as error:
            self.refuse(error)
        return True

    def submit_answer(self, message: dict[str, Any], received_ms: int, quiz: Quiz) -> asyncio.Future[tuple[int, int]]:
        """The one answer path, fast or queued: the same checks in the same order (fields, then
        the service's question and option, then the store's), and the reply (ack or error) sent
        by `_answer_recorded` when the answer is recorded. Raises a refusal found at once."""
        assert self.conn.player_id is not None
        try:
            question = _int_field(message, "question")
            option = _int_field(message, "option")
            recorded = self.live.service.answer_soon(
                self.pin, self.conn.player_id, question, option, received_ms, quiz
            )
        except ClientError as error:
            metrics.ANSWERS.labels(error.code).inc()
            raise
        recorded.add_done_callback(functools.partial(self._answer_recorded, question))
        self._answer_in_flight = recorded
        return recorded

    def _answer_recorded(self, question: int, recorded: asyncio.Future[tuple[int, int]]) -> None:
        self._answer_in_flight = None
        if recorded.cancelled():
            return
        error = recorded.exception()
        if error is None:
            ANSWERS_ACCEPTED.inc()
            self.conn.send(ack_message(question))
        elif isinstance(error, ClientError):
            metrics.ANSWERS.labels(error.code).inc()
            self.refuse(error)
        else:
            metrics.ANSWERS.labels("server_error").inc()
            if not isinstance(error, (ServerError, RedisError)):  # not expected: keep the trace
                log.error("answer on game %s failed", self.pin, exc_info=error)
            self.server_failed(error)

    async def cleanup(self) -> None:
        if self.raw is not None:
            self.raw.set_fast_path(None)  # it refers back to this session: no cycle left behind
        if self.identified and self.conn.player_id is not None:
            try:
                await self.live.service.set_connected(self.pin, self.conn.player_id, False)
            except Exception:
                log.exception("could not mark a player of %s disconnected", self.pin)
        await super().cleanup()


class HostSession(Session):
    role = "host"

    async def handle(self, message: dict[str, Any], received_ms: int) -> None:
        kind = message["type"]
        service = self.live.service
        if kind == "ping":
            self.pong(message)
            return
        if not self.identified:
            if kind != "host":
                raise BadMessage("send host with the host token first")
            await self.authenticate(message.get("token"))
            return
        # Checked on every message: only a socket that proved the host token gets here.
        if kind == "next":
            await service.command(self.pin, service.next_event(message, received_ms))
        elif kind in HOST_COMMANDS:
            await service.command(self.pin, HOST_COMMANDS[kind]())
        elif kind == "kick":
            await service.kick(self.pin, message.get("player_id"))
        elif kind == "host":
            raise BadMessage("already hosting")
        else:
            raise UnknownType(f"unknown message type {kind!r} for the host")

    async def authenticate(self, token: object) -> None:
        service = self.live.service
        await service.check_host(self.pin, token)  # unknown_game (4404) or bad_token (4401)
        self.identified = True
        await self.live.hub.attach(self.conn)
        record = await service.record(self.pin)
        players = await service.store.players(self.pin)
        self.conn.send(Hosting(
            self.pin, record.title, record.state.phase.value,
            tuple(LobbyPlayer(player_id=p, name=n) for p, n in players.items()), record.state.question_count,
        ).to_wire())
        currents = await service.current_messages(self.pin, host=True, record=record)
        for current in currents:
            self.conn.send(current)
        self.live.hub.welcomed(self.conn, currents)  # then what the game broadcast meanwhile
        for current in currents:
            if current["type"] == "question":
                self.live.hub.follow_answers(self.pin, current["question"])


async def _serve(websocket: WebSocket, session_type: type[Session]) -> None:
    live: LiveContext = websocket.app.state.live
    pin = websocket.path_params["pin"]
    offered = list(websocket.scope.get("subprotocols") or [])
    codec = pick_codec(offered)
    limits = ip_limits(live)
    ip = limits.ip(websocket.scope)
    try:
        limits.check_lookup(ip)
        known = bool(PIN_PATTERN.match(pin)) and await live.service.store.exists(pin)
        if not known:
            await limits.missed(ip)
    except IpRateLimited as error:
        # A scan of PINs: refused at the handshake, before any socket is opened for it.
        await websocket.send_denial_response(too_many_response(error))
        return
    except (RedisError, ServerError) as error:
        # Ours (Redis away): say so with a close frame the client can act on, not a dropped TCP.
        log.warning("refusing a socket of game %s: %s", pin, error)
        await websocket.accept(subprotocol=codec.subprotocol if codec.subprotocol in offered else None)
        await websocket.send_text('{"type": "error", "code": "server_error", "message": "try again"}')
        await websocket.close(CLOSE_SERVER_ERROR, "server_error")
        return
    await websocket.accept(subprotocol=codec.subprotocol if codec.subprotocol in offered else None)
    if not known:
        await websocket.close(4404, "unknown PIN")
        return
    await session_type(websocket, live, pin).run()


def too_many_response(error: IpRateLimited) -> Response:
    """The HTTP 429 that refuses a WebSocket handshake, in the HTTP API's error shape."""
    body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
    return Response(body, 429, {"Retry-After": str(error.retry_after_s)}, media_type="application/json")


async def play_endpoint(websocket: WebSocket) -> None:
    await _serve(websocket, PlayerSession)


async def host_endpoint(websocket: WebSocket) -> None:
    await _serve(websocket, HostSession)


Handler = Callable[[WebSocket], Awaitable[None]]
