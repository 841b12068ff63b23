"""`GET /auth/google` and its callback: "Sign in with Google" (OpenID Connect, `oidc.py`).

Off (404 `google_off`) while `LIVEQUIZ_GOOGLE_CLIENT_ID` is empty; `GET /api/auth/providers`
tells pages whether to offer it. The two are browser redirects, not JSON API calls, so they
live outside `/api/` (and outside `/openapi.json`). The start redirects to Google; the callback signs the browser
in exactly as a password login does (the `lq_session` cookie) and lands on `next` (a path on
this site) or the profile. The session's CSRF token cannot ride in a redirect's body, so it
comes in `lq_csrf_once`, a readable cookie of two minutes that the page moves to its storage
and deletes at once. Whatever goes wrong lands on `/account?google=failed#signin`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.http import Handler, PlatformError, client_ip, database_of, endpoint, live_of
from gameserver.platform.oidc import FLOW_TTL_S, Flow, OidcClient, OidcError, new_flow
from persistence.accounts import external
from persistence.accounts.tokens import SESSION_LIFETIME

log = logging.getLogger("livequiz.platform")

STATE_COOKIE = "lq_oidc"
CSRF_ONCE_COOKIE = "lq_csrf_once"
START_PATH = "/auth/google"
CALLBACK_PATH = "/auth/google/callback"
FAILED = "/account?google=failed#signin"

auth_endpoint: Callable[[Handler], Handler] = endpoint(auth_endpoint=True)


def _client(request: Request) -> OidcClient | None:
    live = live_of(request)
    settings = live.settings
    if not settings.google_client_id:
        return None
    client = live.extras.get("google_oidc")
    if client is None:
        client = live.extras["google_oidc"] = OidcClient(
            settings.google_client_id, settings.google_client_secret, settings.google_discovery_url,
            clock=live.clock)
    return client


def _redirect_uri(request: Request) -> str:
    base = live_of(request).settings.public_url.strip().rstrip("/") or str(request.base_url).rstrip("/")
    return base + CALLBACK_PATH


def _next_path(raw: str | None) -> str:
    """Only a path on this site (never `//host` or `/\\host`): no open redirect."""
    if raw and raw.startswith("/") and not raw.startswith(("//", "/\\")) and len(raw) <= 512:
        return raw
    return "/account#profile"


def _flow_key(state: str) -> str:
    return f"livequiz:oidc:{state}"


@endpoint
async def providers(request: Request) -> Response:
    return ORJSONResponse({"google": _client(request) is not None})


@endpoint
async def start(request: Request) -> Response:
    client = _client(request)
    if client is None:
        raise PlatformError(404, "google_off", "sign-in with Google is not configured on this server")
    state, flow = new_flow(_next_path(request.query_params.get("next")))
    try:
        url = await client.authorization_url(_redirect_uri(request), state, flow)
    except OidcError as error:
        log.warning("Google sign-in cannot start: %s", error)
        return RedirectResponse(FAILED, status_code=302)
    await live_of(request).redis.set(_flow_key(state), flow.dumps(), ex=FLOW_TTL_S)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(STATE_COOKIE, state, max_age=FLOW_TTL_S, path=START_PATH, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


def _failed(request: Request) -> Response:
    response = RedirectResponse(FAILED, status_code=302)
    response.delete_cookie(STATE_COOKIE, path=START_PATH)
    return response


@auth_endpoint
async def callback(request: Request) -> Response:
    client = _client(request)
    if client is None:
        raise PlatformError(404, "google_off", "sign-in with Google is not configured on this server")
    state = request.query_params.get("state", "")
    code = request.query_params.get("code", "")
    remembered = request.cookies.get(STATE_COOKIE, "")
    # The browser finishing must be the one that started (else a callback URL handed to a
    # victim would sign them into the sender's account).
    if not state or not code or not remembered or not secrets.compare_digest(state, remembered):
        return _failed(request)
    raw = await live_of(request).redis.getdel(_flow_key(state))  # one use
    if raw is None:
        return _failed(request)
    flow = Flow.loads(raw)
    try:
        identity = await client.identity(code, _redirect_uri(request), flow)
    except OidcError as error:
        log.warning("Google sign-in refused: %s", error)
        return _failed(request)
    done = await external.sign_in(database_of(request), identity, ip=client_ip(request))
    response = RedirectResponse(flow.next_path, status_code=302)
    secure = request.url.scheme == "https"
    response.delete_cookie(STATE_COOKIE, path=START_PATH)
    response.set_cookie("lq_session", done.session.token, max_age=int(SESSION_LIFETIME.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=secure)
    response.set_cookie(CSRF_ONCE_COOKIE, done.session.csrf or "", max_age=120, path="/", httponly=False,
                        samesite="lax", secure=secure)
    return response


def google_routes() -> list[Route]:
    return [
        Route("/api/auth/providers", providers, methods=["GET"]),
        Route(START_PATH, start, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]
