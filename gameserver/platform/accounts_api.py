"""The accounts endpoints of PLATFORM.md ("Accounts"): `/api/auth/*` and `/api/me*`.

Login answers an API token (30 days, for the app, the bot and scripts) in the body and sets the
browser session (12 hours) as the `HttpOnly`, `SameSite=Lax` cookie, with the session's CSRF
token in the body; a browser page keeps the CSRF token and ignores the API token. Logout ends
the one credential it was called with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.http import (
    SESSION_COOKIE,
    Handler,
    PlatformError,
    client_ip,
    database_of,
    endpoint,
    json_body,
    live_of,
    require_user,
)
from gameserver.platform.password_delivery import start_reset
from persistence.accounts import deletion, export, service, telegram
from persistence.accounts.errors import AccountError
from persistence.accounts.tokens import SESSION_LIFETIME
from persistence.types import iso

#: The auth endpoints (register, login, reset) share the tighter limit: 5 a minute per address.
auth_endpoint: Callable[[Handler], Handler] = endpoint(auth_endpoint=True)


async def auth_body(request: Request) -> dict[str, Any]:
    """The JSON body of an auth endpoint, which must say it is JSON. A cross-site HTML form can
    post a JSON-looking body as `text/plain` without any preflight; with the session cookie
    login sets, that would sign a victim's browser into the attacker's account (login CSRF).
    `application/json` from another site needs CORS, which this server never grants."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise PlatformError(415, "unsupported_media_type", "send the body as application/json")
    return await json_body(request)


def refused(error: AccountError) -> PlatformError:
    return PlatformError(error.status, error.code, error.message, error.details)


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), path="/", httponly=True,
        samesite="lax", secure=request.url.scheme == "https",
    )


def _clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")


@auth_endpoint
async def register(request: Request) -> Response:
    data = await auth_body(request)
    try:
        made = await service.register(database_of(request), data, ip=client_ip(request))
    except AccountError as error:
        raise refused(error) from error
    body = {"user": service.profile(made.user), "token": made.token.token, "expires_at": iso(made.token.expires_at)}
    return ORJSONResponse(body, status_code=201)


@auth_endpoint
async def login(request: Request) -> Response:
    data = await auth_body(request)
    try:
        done = await service.login(database_of(request), data.get("login"), data.get("password"), ip=client_ip(request))
    except AccountError as error:
        raise refused(error) from error
    response = ORJSONResponse({
        "token": done.api_token.token, "expires_at": iso(done.api_token.expires_at), "csrf": done.session.csrf,
        "session_expires_at": iso(done.session.expires_at), "user": service.profile(done.user),
    })
    _set_session_cookie(request, response, done.session.token)
    return response


@endpoint
async def logout(request: Request) -> Response:
    principal = await require_user(request)
    await service.logout(database_of(request), principal, ip=client_ip(request))
    response = Response(status_code=204)
    if principal.kind == "session":
        _clear_session_cookie(request, response)
    return response


@auth_endpoint
async def reset_password(request: Request) -> Response:
    data = await auth_body(request)
    login_name = data.get("login")
    if isinstance(login_name, str) and login_name.strip():
        live = live_of(request)
        tasks: set[Any] = live.extras.setdefault("password_resets", set())
        start_reset(tasks, database_of(request), live.settings, login_name, client_ip(request))
    # 202 whatever the login: the answer never tells whether an account exists.
    return ORJSONResponse({"status": "accepted"}, status_code=202)


@endpoint
async def me(request: Request) -> Response:
    principal = await require_user(request)
    return ORJSONResponse(service.profile(principal.user))


@endpoint
async def edit_me(request: Request) -> Response:
    principal = await require_user(request)
    data = await json_body(request)
    try:
        user = await service.update_profile(database_of(request), principal, data, ip=client_ip(request))
    except AccountError as error:
        raise refused(error) from error
    return ORJSONResponse(service.profile(user))


@endpoint
async def delete_me(request: Request) -> Response:
    principal = await require_user(request)
    data = await json_body(request)
    try:
        await deletion.delete_account(database_of(request), principal, data.get("password"), ip=client_ip(request))
    except AccountError as error:
        raise refused(error) from error
    response = Response(status_code=204)
    _clear_session_cookie(request, response)
    return response


@endpoint
async def change_password(request: Request) -> Response:
    principal = await require_user(request)
    data = await json_body(request)
    try:
        await service.change_password(database_of(request), principal, data, ip=client_ip(request))
    except AccountError as error:
        raise refused(error) from error
    return Response(status_code=204)


@endpoint
async def telegram_code(request: Request) -> Response:
    principal = await require_user(request)
    code = await telegram.new_link_code(database_of(request), principal.user_id)
    return ORJSONResponse({"code": code.code, "expires_at": iso(code.expires_at)})


@endpoint
async def telegram_unlink(request: Request) -> Response:
    principal = await require_user(request)
    await telegram.unlink_telegram(database_of(request), principal.user_id, ip=client_ip(request))
    return Response(status_code=204)


@endpoint
async def export_me(request: Request) -> Response:
    principal = await require_user(request)
    document = await export.export(database_of(request), principal.user_id)
    return ORJSONResponse(document, headers={"Cache-Control": "no-store"})


def accounts_routes() -> list[Route]:
    from gameserver.platform.accounts_openapi import describe
    from gameserver.platform.admin_api import admin_routes
    from gameserver.platform.google_api import google_routes
    from gameserver.platform.telegram_link import install as install_link_command

    install_link_command()  # the bot's `/link CODE`
    describe()  # this area's part of /openapi.json

    return [
        Route("/api/auth/register", register, methods=["POST"]),
        Route("/api/auth/login", login, methods=["POST"]),
        Route("/api/auth/logout", logout, methods=["POST"]),
        Route("/api/auth/reset", reset_password, methods=["POST"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/api/me", edit_me, methods=["PATCH"]),
        Route("/api/me", delete_me, methods=["DELETE"]),
        Route("/api/me/password", change_password, methods=["POST"]),
        Route("/api/me/telegram", telegram_code, methods=["POST"]),
        Route("/api/me/telegram", telegram_unlink, methods=["DELETE"]),
        Route("/api/me/export", export_me, methods=["GET"]),
        *admin_routes(),
        *google_routes(),
    ]
