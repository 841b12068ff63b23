"""The classroom web pages: routes for the host screen, the player page, their static files,
the join QR code and the bundled sample quizzes, plus the security-headers middleware.

The pages are plain HTML/CSS/ES modules under `gameserver/static` (no build step). They speak
only the public protocol (PROTOCOL.md): `POST /api/games`, `/ws/host/{pin}`, `/ws/play/{pin}`.
Everything here is stateless; the game engine lives elsewhere and only mounts `web_routes()`
and wraps the app in `SecurityHeadersMiddleware`.
"""

from __future__ import annotations

import io
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import segno
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gameserver.quizzes import load_sample, public_sample
from gameserver.static_files import CachedStaticFiles

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
SAMPLES_DIR = HERE / "samples"

PIN_RE = re.compile(r"^[0-9]{6}$")
SAMPLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# The pages must always be fresh (they are small and name versioned assets by path).
NO_CACHE = {"Cache-Control": "no-cache"}


def _public_url(request: Request) -> str:
    """Base URL players use to reach this server: the `public_url` setting, else the request's."""
    configured = _configured_public_url()
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


@lru_cache(maxsize=1)
def _configured_public_url() -> str:
    try:
        from gameserver.settings import Settings

        return Settings().public_url.strip()
    except Exception:  # settings unreadable: fall back to the request's own URL
        return ""


def join_url(request: Request, pin: str) -> str:
    return f"{_public_url(request)}/play?pin={quote(pin)}"


async def index(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/play{query}", status_code=307)


async def host_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "host.html", media_type="text/html", headers=NO_CACHE)


async def play_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "play.html", media_type="text/html", headers=NO_CACHE)


async def account_page(request: Request) -> Response:
    """Sign-in, sign-up, profile and "my games" (one page; the screen follows the URL's hash)."""
    return FileResponse(STATIC_DIR / "account.html", media_type="text/html", headers=NO_CACHE)


async def wallet_page(request: Request) -> Response:
    """Balances, top-up, transfers, withdrawals and history; pending withdrawals for admins."""
    return FileResponse(STATIC_DIR / "wallet.html", media_type="text/html", headers=NO_CACHE)


# The exam page may use the camera (proctored exams take snapshots, 000 §10) and the microphone
# (IELTS/CEFR speaking answers are recorded); every other page keeps the middleware's camera=()
# (a response's own Permissions-Policy wins over the default).
EXAM_PERMISSIONS = {"Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), fullscreen=(self)"}


async def exam_page(request: Request) -> Response:
    """Take an exam alone, question by question (`/exam?id=N`)."""
    return FileResponse(STATIC_DIR / "exam.html", media_type="text/html", headers=NO_CACHE | EXAM_PERMISSIONS)


# The Speaking room is a video call: camera and microphone (000 §14), nothing else.
SPEAKING_PERMISSIONS = {"Permissions-Policy": "camera=(self), microphone=(self), geolocation=()"}


async def speaking_page(request: Request) -> Response:
    """Scheduled Speaking: an exam's slots (`?exam=N`), the call room (`?slot=N`), or mine."""
    return FileResponse(STATIC_DIR / "speaking.html", media_type="text/html", headers=NO_CACHE | SPEAKING_PERMISSIONS)


async def grading_page(request: Request) -> Response:
    """Grade Writing and Speaking of IELTS/CEFR attempts: the queue, essays, audio, bands."""
    return FileResponse(STATIC_DIR / "grading.html", media_type="text/html", headers=NO_CACHE)


def _bad(code: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def qr_svg(request: Request) -> Response:
    """QR code of the join link for a PIN, as SVG (rendered here: no client-side QR library)."""
    pin = request.query_params.get("pin", "")
    if not PIN_RE.match(pin):
        return _bad("bad_pin", "pin must be 6 digits")
    svg = _qr_svg_bytes(join_url(request, pin))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})


@lru_cache(maxsize=256)
def _qr_svg_bytes(url: str) -> bytes:
    qr = segno.make(url, error="m", micro=False)
    buf = io.BytesIO()
    # omitsize: a viewBox instead of a fixed size, so the page can scale it crisply.
    qr.save(
        buf, kind="svg", scale=1, border=2, dark="#000000", light="#ffffff", xmldecl=False, omitsize=True, title=url
    )
    return buf.getvalue()


async def join_info(request: Request) -> Response:
    """What the host screen shows next to the QR code: the join URL of a PIN."""
    pin = request.path_params["pin"]
    if not PIN_RE.match(pin):
        return _bad("bad_pin", "pin must be 6 digits")
    return JSONResponse(
        {"pin": pin, "url": join_url(request, pin), "qr": f"/qr.svg?pin={pin}", "base": _public_url(request)}
    )


def _load_sample(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _sample_paths() -> list[Path]:
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLES_DIR.glob("*.json") if SAMPLE_NAME_RE.match(p.stem))


async def samples_list(request: Request) -> Response:
    out = []
    for path in _sample_paths():
        data = _load_sample(path)
        if data is None:
            continue
        questions = data.get("questions")
        out.append(
            {
                "name": path.stem,
                "title": str(data.get("title", path.stem)),
                "question_count": len(questions) if isinstance(questions, list) else 0,
            }
        )
    return JSONResponse({"samples": out})


async def sample_get(request: Request) -> Response:
    name = request.path_params["name"]
    if name.endswith(".json"):
        name = name[:-5]
    if not SAMPLE_NAME_RE.match(name):
        return _bad("not_found", "no such sample", 404)
    data = load_sample(name)
    if data is None:
        return _bad("not_found", "no such sample", 404)
    # Public: players could read the answer keys here, so the preview has none; posting it
    # back to `POST /api/games` plays the stored sample by its name.
    return JSONResponse(public_sample(name, data))


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "img" / "favicon.svg", media_type="image/svg+xml")


def web_routes() -> list[BaseRoute]:
    """Routes of the web UI, to be added to the app's own routes."""
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/host", host_page, methods=["GET", "HEAD"]),
        Route("/play", play_page, methods=["GET", "HEAD"]),
        Route("/exam", exam_page, methods=["GET", "HEAD"]),
        Route("/grading", grading_page, methods=["GET", "HEAD"]),
        Route("/speaking", speaking_page, methods=["GET", "HEAD"]),
        Route("/account", account_page, methods=["GET", "HEAD"]),
        Route("/wallet", wallet_page, methods=["GET", "HEAD"]),
        Route("/qr.svg", qr_svg, methods=["GET", "HEAD"]),
        Route("/favicon.ico", favicon, methods=["GET", "HEAD"]),
        Route("/api/join/{pin}", join_info, methods=["GET"]),
        Route("/api/samples", samples_list, methods=["GET"]),
        Route("/api/samples/{name}", sample_get, methods=["GET"]),
        Mount("/static", app=CachedStaticFiles(directory=STATIC_DIR), name="static"),
    ]


def content_security_policy(host: str | None) -> str:
    connect = "'self'"
    if host and re.match(r"^[A-Za-z0-9.\-\[\]:]+$", host):
        # Older browsers do not let 'self' cover ws:/wss: of the same host; name them.
        connect += f" ws://{host} wss://{host}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    """Pure ASGI middleware: adds CSP (no inline scripts), nosniff and a referrer policy to every
    HTTP response. WebSocket and lifespan scopes pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = None
        for key, value in scope.get("headers", []):
            if key == b"host":
                host = value.decode("latin-1")
                break
        extra = [
            (b"content-security-policy", content_security_policy(host).encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
