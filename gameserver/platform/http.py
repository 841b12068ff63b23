"""What every platform endpoint shares: the database, who is asking, CSRF, bodies, paging.

Credentials (PLATFORM.md "Conventions"): `Authorization: Bearer <token>` (an API token) or the
session cookie. A cookie-authenticated request that changes anything must carry the
`X-CSRF-Token` that login returned, else `403 csrf`; a Bearer request needs none (a browser
never attaches it by itself).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from gameserver import metrics
from gameserver.context import LiveContext
from gameserver.http_api import error_response
from gameserver.platform.ratelimit import RateLimiter
from persistence.accounts import tokens
from persistence.accounts.tokens import Principal
from persistence.db import Database

SESSION_COOKIE = "lq_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY_BYTES = 256 * 1024


class PlatformError(Exception):
    """A client error of the platform API: its status, stable code and message."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def unauthorized() -> PlatformError:
    return PlatformError(
        401, "unauthorized", "sign in first: send 'Authorization: Bearer <token>' or the session cookie"
    )


def forbidden(message: str = "you may not do this") -> PlatformError:
    return PlatformError(403, "forbidden", message)


def invalid(message: str, details: Any = None) -> PlatformError:
    return PlatformError(422, "invalid", message, details)


def live_of(connection: HTTPConnection) -> LiveContext:
    return connection.app.state.live  # type: ignore[no-any-return]


def database_of(connection: HTTPConnection) -> Database:
    db = live_of(connection).db
    if db is None:
        raise PlatformError(503, "server_busy", "the platform database is not available")
    return db


@dataclass(frozen=True)
class Credentials:
    token: str
    via_cookie: bool


def credentials_of(connection: HTTPConnection) -> Credentials | None:
    """The token a request or WebSocket handshake presents, if any (Bearer wins over cookie)."""
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credentials(value.strip(), via_cookie=False)
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie:
        return Credentials(cookie, via_cookie=True)
    return None


async def principal_of(connection: HTTPConnection) -> Principal | None:
    """Who is asking, or None; cached on the request. Expired or revoked credentials are None."""
    cached = connection.scope.get("livequiz.principal", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    found = credentials_of(connection)
    principal = None
    if found is not None:
        async with database_of(connection).session() as session:
            principal = await tokens.resolve(session, found.token)
        if principal is not None and found.via_cookie and principal.kind != "session":
            principal = None  # an API token never rides in the cookie
    connection.scope["livequiz.principal"] = principal
    connection.scope["livequiz.via_cookie"] = found is not None and found.via_cookie
    return principal


async def require_user(request: Request) -> Principal:
    """The signed-in caller; 401 without credentials, 403 csrf for a cookie write without it."""
    principal = await principal_of(request)
    if principal is None:
        raise unauthorized()
    if request.scope.get("livequiz.via_cookie") and request.method not in SAFE_METHODS:
        if not principal.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise PlatformError(403, "csrf", "send the X-CSRF-Token header that login returned")
    return principal


async def require_admin(request: Request) -> Principal:
    principal = await require_user(request)
    if not principal.is_admin:
        raise forbidden("admins only")
    return principal


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; 422 invalid for anything else (too large, not JSON, not an object)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PlatformError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise invalid("body is not valid JSON",
                      [{"loc": ["body"], "msg": "not valid JSON", "type": "json_invalid"}]) from exc
    if not isinstance(data, dict):
        raise invalid("body must be a JSON object", [{"loc": ["body"], "msg": "not an object", "type": "model_type"}])
    return data


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: int | None  # our cursors are the last id seen (keyset paging: stable under inserts)


def page_of(request: Request) -> Page:
    """`?limit=` (1–100, default 20) and `?cursor=` (PLATFORM.md "Lists are paged")."""
    raw_limit = request.query_params.get("limit", "20")
    raw_cursor = request.query_params.get("cursor")
    try:
        limit = int(raw_limit)
        cursor = int(raw_cursor) if raw_cursor else None
    except ValueError as exc:
        raise invalid("limit and cursor must be whole numbers",
                      [{"loc": ["query"], "msg": "not a number", "type": "int_parsing"}]) from exc
    if not 1 <= limit <= 100:
        raise invalid("limit must be 1–100",
                      [{"loc": ["query", "limit"], "msg": "out of range", "type": "out_of_range"}])
    return Page(limit, cursor)


def client_ip(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"


log = logging.getLogger("livequiz.platform")
Handler = Callable[[Request], Awaitable[Response]]


def _limiter(request: Request) -> RateLimiter:
    live = live_of(request)
    limiter = live.extras.get("platform_limiter")
    if limiter is None:
        settings = live.settings
        limiter = live.extras["platform_limiter"] = RateLimiter(
            live.redis, anonymous=settings.platform_rate_anonymous, signed_in=settings.platform_rate_user,
            auth=settings.platform_rate_auth, clock=live.clock,
        )
    return limiter


async def _check_rate(request: Request, auth_endpoint: bool) -> None:
    limiter = _limiter(request)
    if auth_endpoint:
        wait = await limiter.hit(limiter.auth, client_ip(request))
    else:
        principal = await principal_of(request)
        if principal is not None:
            wait = await limiter.hit(limiter.signed_in, str(principal.user_id))
        else:
            wait = await limiter.hit(limiter.anonymous, client_ip(request))
    if wait is not None:
        metrics.RATE_LIMITED.labels("platform").inc()
        raise PlatformError(429, "rate_limited", f"too many requests; try again in {wait} s",
                            headers={"Retry-After": str(wait)})


def endpoint(handler: Handler | None = None, *, auth_endpoint: bool = False) -> Any:
    """Wrap a platform handler: rate limits first, then the handler; a `PlatformError` becomes
    the JSON error, and anything unexpected a JSON 500 (logged), never a traceback."""

    def wrap(function: Handler) -> Handler:
        @functools.wraps(function)
        async def wrapped(request: Request) -> Response:
            try:
                await _check_rate(request, auth_endpoint)
                return await function(request)
            except PlatformError as error:
                response = error_response(error.status, error.code, error.message, error.details)
                response.headers.update(error.headers)
                return response
            except Exception:
                log.exception("platform request %s %s failed", request.method, request.url.path)
                return error_response(500, "server_error", "the server could not complete the request")

        return wrapped

    return wrap(handler) if handler is not None else wrap
