"""The HTTP API of PROTOCOL.md. Errors answer `{"error": {"code", "message", "details"?}}`.

Failures of the server itself answer in the same shape (`api_exception_handlers`): Redis
unreachable or no free PIN -> 503 `server_busy` with `Retry-After`; anything unexpected -> 500
`server_error`. The traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gameserver.context import LiveContext
from gameserver.iplimits import IpRateLimited, ip_limits
from gameserver.quizzes import parse_quiz, quiz_source
from gameserver.store import GameRecord, tokens_match
from gameserver.ws import PIN_PATTERN
from statemachine import Phase
from statemachine.errors import BadMessage, ClientError, InvalidQuiz, ServerError, UnknownGame

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
#: Seconds a client is asked to wait (`Retry-After`) when the server is busy (Redis away, no PIN).
BUSY_RETRY_AFTER_S = 5


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return ORJSONResponse({"error": error}, status_code=status)


def busy_response(message: str = "The server is busy; try again shortly.") -> Response:
    response = error_response(503, "server_busy", message)
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return response


def client_error_response(error: ClientError) -> Response:
    response = error_response(error.http_status, error.code, error.message, error.details.get("details"))
    if isinstance(error, IpRateLimited):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


def _live(request: Request) -> LiveContext:
    return request.app.state.live  # type: ignore[no-any-return]


async def _json_body(request: Request, error: type[ClientError]) -> Any:
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                details = [{"loc": ["body"], "msg": "too large", "type": "too_large"}]
                raise error("request body too large", details=details)
    except ClientDisconnect as exc:  # gone before the body was complete: nobody reads an answer
        raise error("the request body was cut off") from exc
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        details = [{"loc": ["body"], "msg": "not valid JSON", "type": "json_invalid"}]
        raise error("body is not valid JSON", details=details) from exc


def _pin(request: Request) -> str:
    pin = str(request.path_params["pin"])
    if not PIN_PATTERN.match(pin):
        raise UnknownGame(f"no game with PIN {pin}")
    return pin


async def _game(request: Request) -> tuple[LiveContext, str, GameRecord]:
    """The game the path names; raises UnknownGame (404) for a malformed or unknown PIN, and
    IpRateLimited (429) for an address over its budget of look-ups that miss (`iplimits`)."""
    live = _live(request)
    limits = ip_limits(live)
    ip = limits.ip(request.scope)
    limits.check_lookup(ip)
    try:
        pin = _pin(request)
        return live, pin, await live.service.record(pin)
    except UnknownGame:
        await limits.missed(ip)
        raise


async def create_game(request: Request) -> Response:
    live = _live(request)
    try:
        limits = ip_limits(live)
        await limits.charge(limits.creates, limits.ip(request.scope))
        data = await _json_body(request, InvalidQuiz)
        quiz, skipped = parse_quiz(quiz_source(data), max_questions=live.settings.max_questions)
    except ClientError as error:
        return client_error_response(error)
    try:
        pin, host_token = await live.service.create_game(quiz)
    except ServerError:  # every PIN drawn was taken: the PIN space is (nearly) full
        log.warning("no free PIN for a new game")
        return busy_response("No free game PIN right now; try again shortly.")
    from gameserver.platform.links import link_host  # the platform wires in; the game API needs none of it

    await link_host(live, pin, request)
    body = {"pin": pin, "host_token": host_token, "question_count": len(quiz.questions), "skipped": skipped}
    return ORJSONResponse(body, status_code=201)


async def get_game(request: Request) -> Response:
    try:
        _, pin, record = await _game(request)
    except ClientError as error:
        return client_error_response(error)
    return ORJSONResponse({
        "pin": pin, "title": record.title, "phase": record.state.phase.value,
        "players": record.players, "question_count": record.state.question_count,
    })


async def join_game(request: Request) -> Response:
    try:
        live, pin, _ = await _game(request)
        data = await _json_body(request, BadMessage)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise BadMessage("body must be an object with a string field 'name'")
        limits = ip_limits(live)
        await limits.charge(limits.joins, limits.ip(request.scope))
        seat = await live.service.join(pin, data["name"])
    except ClientError as error:
        return client_error_response(error)
    from gameserver.platform.links import link_player

    await link_player(live, pin, seat.player_id, request)
    return ORJSONResponse({"player_id": seat.player_id, "token": seat.token, "name": seat.name}, status_code=201)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def host_refusal(request: Request, record: GameRecord) -> Response | None:
    """None when the request carries this game's host token (`Authorization: Bearer`); else
    the answer to give: 401 without a token, 403 `not_host` with another one."""
    token = bearer_token(request)
    if token is None:
        return error_response(401, "unauthorized", "send the host token as 'Authorization: Bearer <token>'")
    if not tokens_match(token, record.host_digest):
        return error_response(403, "not_host", "wrong host token")
    return None


async def hosted_game(request: Request) -> GameRecord | Response:
    """The game the path's PIN names, for its host only: the record, or the error to answer
    (404 `unknown_game`, then 401/403 as `host_refusal`)."""
    pin = str(request.path_params["pin"])
    record = await _live(request).store.load(pin) if PIN_PATTERN.match(pin) else None
    if record is None:
        return error_response(404, "unknown_game", "no such game")
    return host_refusal(request, record) or record


async def game_results(request: Request) -> Response:
    try:
        live, pin, record = await _game(request)
    except UnknownGame as error:
        # The live game expired from Redis: its results are kept in SQL (gameserver.archiver).
        return await _stored_results(request, error)
    except ClientError as error:
        return client_error_response(error)
    refusal = host_refusal(request, record)
    if refusal is not None:
        return refusal
    stored = await live.store.final_results(pin) if record.state.phase is Phase.FINISHED else None
    if stored is None:
        return error_response(409, "not_finished", "results are available once the game has finished")
    return ORJSONResponse({"results": stored.host_results})


async def _stored_results(request: Request, unknown: UnknownGame) -> Response:
    from gameserver.platform.results_api import stored_results

    db = _live(request).db
    pin = str(request.path_params["pin"])
    token = bearer_token(request)
    if db is None or not PIN_PATTERN.match(pin):
        return client_error_response(unknown)
    if token is None:
        return error_response(401, "unauthorized", "send the host token as 'Authorization: Bearer <token>'")
    results = await stored_results(db, pin, token)
    if results is None:  # no stored game, or not this host's: say no more than an unknown PIN would
        return client_error_response(unknown)
    return ORJSONResponse({"results": results})


async def healthz(request: Request) -> Response:
    live = _live(request)
    try:
        await live.redis.ping()
    except Exception as exc:
        return ORJSONResponse({"status": "unavailable", "redis": str(exc)}, status_code=503)
    return ORJSONResponse({"status": "ok"})


async def _busy(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: server busy: %s", request.method, request.url.path, exc)
    return busy_response()


async def _server_error(request: Request, exc: Exception) -> Response:
    # Logged with its traceback by uvicorn (Starlette re-raises after answering).
    return error_response(500, "server_error", "Something went wrong on the server; try again.")


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def api_exception_handlers() -> Mapping[Any, ExceptionHandler]:
    """Starlette `exception_handlers`: server failures in the API's JSON error shape."""
    return {RedisError: _busy, ServerError: _busy, Exception: _server_error}


def api_routes() -> list[Route]:
    return [
        Route("/api/games", create_game, methods=["POST"]),
        Route("/api/games/{pin}", get_game, methods=["GET"]),
        Route("/api/games/{pin}/players", join_game, methods=["POST"]),
        Route("/api/games/{pin}/results", game_results, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
