"""Wires the Telegram bridge into the server: start/stop, the webhook route, the attach API.

Off when `telegram_token` is empty. With a token, `start_telegram` builds the bridge over this
process's service and hub (a `ServerPort` that can also read a question's right option, which
quiz polls need up front). Every process of the server does; the one holding the lease in Redis
(`transports.telegram.leader`) long-polls, or registers the webhook when `telegram_webhook_url`
is set, and runs the attached chats; grants, attachments, seats and posted questions are in
Redis (`transports.telegram.shared`), so any process answers the API and another one carries on
within `telegram_lease_ms` when the leader dies.

Routes:
- `POST /telegram/webhook`: Telegram's webhook; the `X-Telegram-Bot-Api-Secret-Token` header
  must match (constant-time), else 403; the update is stamped with its receive time and queued
  (in Redis for the leader when this process does not lead), and 200 answered at once.
- `POST /api/games/{pin}/telegram` with `Authorization: Bearer <host_token>` and
  `{"chat_id": int, "admin_user_id": int, "mode": "polling"|"inline"}`: show the game in that
  chat. The host token alone is not enough: `admin_user_id` must be a Telegram user who proved
  to host this game in a private chat with the bot (`/host`, or the deep link of `GET`) and who
  administers the chat, which the bot asks Telegram (getChatMember). 201, or 401/403 (token),
  403 `no_telegram_grant` / `not_chat_admin`, 404 (PIN; `telegram_off` when the bridge is off),
  409 `chat_busy` (the chat shows another game still running: never displaced), 410
  (finished), 422 (body).
- `GET /api/games/{pin}/telegram` (same header): the bot's name, the host's private deep link
  (`/start` payload carrying the host token: for the host's own screen only) and attached chats.

The routes are always served; the bridge's modules (python-telegram-bot, `transports.telegram`:
~0.3 s of CPU and ~10 MiB of a process's start) are imported by `start_telegram`, only with a
token, so a process without a bot never holds them. Modules that hook into the bot and import
the bridge themselves (the solo exams) load the same way: through `register_setup`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gameserver.context import LiveContext
from gameserver.http_api import ORJSONResponse, client_error_response, error_response
from gameserver.port import ServerPort
from gameserver.ws import PIN_PATTERN
from statemachine.errors import ClientError, UnknownGame

if TYPE_CHECKING:
    from transports.telegram import QuizPort, TelegramRuntime
    from transports.telegram.runtime import CommandHook, PressHook, TextHook

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1 << 20
#: Extra bot commands, by name, added to every bridge this process starts (`register_command`).
EXTRA_COMMANDS: dict[str, CommandHook] = {}
#: Extra button handlers by `callback_data` prefix, and plain-text handlers (`register_press`,
#: `register_text`): the solo exams' buttons and text answers.
EXTRA_PRESSES: dict[str, PressHook] = {}
EXTRA_TEXTS: list[TextHook] = []
#: Run before every bridge this process starts, so only with a token (`register_setup`).
SETUPS: list[Callable[[], None]] = []


def register_setup(setup: Callable[[], None]) -> None:
    """Have `setup` run before every bridge this process starts (never without a bot token):
    where a module that imports the bridge registers its commands, presses and texts. It must
    be idempotent (a process may start more than one bridge: tests). Call before the server
    starts."""
    if setup not in SETUPS:
        SETUPS.append(setup)


def register_command(name: str, hook: CommandHook) -> None:
    """Have the bot answer `/name args...` with `hook` (e.g. the accounts module's `/link CODE`).
    Call before the server starts."""
    EXTRA_COMMANDS[name] = hook


def register_press(prefix: str, hook: PressHook) -> None:
    """Have `hook` answer presses of buttons whose data starts with `prefix` (never the game's
    `j:` or `a:`). Call before the server starts."""
    EXTRA_PRESSES[prefix] = hook


def register_text(hook: TextHook) -> None:
    """Have `hook` see plain text messages in private chats (one hook sees them: the first
    registered; today only the solo exams'). Call before the server starts."""
    if hook not in EXTRA_TEXTS:
        EXTRA_TEXTS.append(hook)


class TelegramServerPort(ServerPort):
    """`ServerPort` plus the answer key of a question (for quiz polls)."""

    async def correct_option(self, pin: str, question: int) -> int:
        quiz = await self.live.store.quiz(pin)
        return quiz.questions[question].correct


async def start_telegram(live: LiveContext, *, port: QuizPort | None = None) -> TelegramRuntime | None:
    """The running bridge, or None when no token is configured (or Telegram cannot be reached:
    the game server keeps running without it)."""
    settings = live.settings
    if not settings.telegram_token:
        return None
    # Here, at start-up, not at module level: a process without a bot never imports the bridge
    # (see the module's docstring), and one with a bot has it all before it serves anything.
    from transports.telegram import BridgeConfig, RuntimeConfig, TelegramRuntime
    from transports.telegram.shared import SharedState

    for setup in SETUPS:
        setup()
    config = RuntimeConfig(
        token=settings.telegram_token,
        api_url=settings.telegram_api_url,
        webhook_url=settings.telegram_webhook_url,
        webhook_secret=settings.telegram_webhook_secret,
        bridge=BridgeConfig(budget_ops=settings.telegram_budget_ops, budget_window_s=settings.telegram_budget_window_s),
        lease_ms=settings.telegram_lease_ms,
    )
    shared = SharedState(live.redis, settings.telegram_token.split(":", 1)[0])
    runtime = TelegramRuntime(config, port or TelegramServerPort(live), shared)
    for name, hook in EXTRA_COMMANDS.items():
        runtime.add_command(name, hook)
    for prefix, press in EXTRA_PRESSES.items():
        runtime.add_press(prefix, press)
    for text in EXTRA_TEXTS:
        runtime.add_text(text)
    try:
        await runtime.start()
    except Exception:
        log.exception("the Telegram bridge could not start; running without it")
        with contextlib.suppress(Exception):
            await runtime.stop()
        return None
    return runtime


def _runtime(request: Request) -> TelegramRuntime | None:
    live: LiveContext | None = getattr(request.app.state, "live", None)
    return None if live is None else live.extras.get("telegram")


async def _body(request: Request, limit: int) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


async def webhook(request: Request) -> Response:
    runtime = _runtime(request)
    if runtime is None or runtime.mode != "webhook":
        return Response(status_code=404)
    # Stamped first, on the clocks its readers use: the bridge's (its answers' arrival) and
    # the server's (another process's leader converts it back).
    arrived, arrived_ms = runtime.bridge.clock(), runtime.port.now_ms()
    if not runtime.secret_ok(request.headers.get("x-telegram-bot-api-secret-token")):
        return Response(status_code=403)
    body = await _body(request, MAX_WEBHOOK_BYTES)
    try:
        data = orjson.loads(body) if body is not None else None
        if not isinstance(data, dict):
            raise ValueError("an update is a JSON object")
        if runtime.leading:
            runtime.feed(data, arrived)
        elif runtime.bridge.shared is not None:
            from telegram import Update  # loaded already: the running bridge imported it

            Update.de_json(data, runtime.application.bot)  # refuse a malformed one here, not there
            await runtime.bridge.shared.push_update(data, arrived_ms)  # the leader handles it
    except Exception:
        log.warning("refused a malformed webhook update")
        return Response(status_code=400)
    return Response(status_code=200)


async def _authorised(request: Request) -> tuple[TelegramRuntime, str] | Response:
    runtime = _runtime(request)
    if runtime is None:
        return error_response(404, "telegram_off", "the Telegram bridge is not running in this server")
    pin = str(request.path_params["pin"])
    live: LiveContext = request.app.state.live
    try:
        if not PIN_PATTERN.match(pin):
            raise UnknownGame(f"no game with PIN {pin}")
        await live.service.record(pin)
    except ClientError as error:
        return client_error_response(error)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(401, "unauthorized", "send the host token as 'Authorization: Bearer <token>'")
    if not await runtime.bridge.port.verify_host(pin, token.strip()):
        return error_response(403, "not_host", "wrong host token")
    return runtime, pin


async def attach_chat(request: Request) -> Response:
    checked = await _authorised(request)
    if isinstance(checked, Response):
        return checked
    runtime, pin = checked
    from transports.telegram import MODES  # loaded already: the running bridge imported it

    body = await _body(request, 4096)
    try:
        data: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    chat_id = data.get("chat_id") if isinstance(data, dict) else None
    admin = data.get("admin_user_id") if isinstance(data, dict) else None
    mode = data.get("mode", "polling") if isinstance(data, dict) else None
    if not _is_int(chat_id) or not _is_int(admin) or mode not in MODES:
        return error_response(
            422, "bad_message", f"body must be {{'chat_id': int, 'admin_user_id': int, 'mode': one of {list(MODES)}}}"
        )
    try:
        await runtime.bridge.attach_as(pin, chat_id, str(mode), admin)
    except ClientError as error:
        return client_error_response(error)
    return ORJSONResponse({"pin": pin, "chat_id": chat_id, "mode": mode}, status_code=201)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


async def telegram_info(request: Request) -> Response:
    checked = await _authorised(request)
    if isinstance(checked, Response):
        return checked
    runtime, pin = checked
    from transports.telegram.callbacks import host_link_payload  # loaded with the running bridge

    token = request.headers["authorization"].partition(" ")[2].strip()
    username = runtime.application.bot.username
    payload = host_link_payload(pin, token)
    shared = runtime.bridge.shared
    if shared is not None:
        records = await shared.chats()
        chats = [{"chat_id": c, "mode": r.mode} for c, r in records.items() if r.pin == pin]
    else:
        sessions = runtime.bridge.sessions.items()
        chats = [{"chat_id": c, "mode": s.mode} for c, s in sessions if s.pin == pin and not s.stopped]
    return ORJSONResponse({
        "bot_username": username,
        "host_link": f"https://t.me/{username}?start={payload}" if payload else None,
        "chats": chats,
    })


def telegram_routes() -> list[BaseRoute]:
    return [
        Route("/telegram/webhook", webhook, methods=["POST"], include_in_schema=False),
        Route("/api/games/{pin}/telegram", attach_chat, methods=["POST"]),
        Route("/api/games/{pin}/telegram", telegram_info, methods=["GET"]),
    ]


# -- OpenAPI descriptions of the two API routes ------------------------------------------------


class TelegramAttach(BaseModel):
    chat_id: int = Field(description="the group's chat id (the bot must be a member)")
    admin_user_id: int = Field(
        description="a Telegram user who proved to host this game in a private chat with the bot "
        "and administers the group (checked with getChatMember)"
    )
    mode: Literal["polling", "inline"] = Field(
        "polling", description="quiz polls, or messages with answer buttons"
    )


class TelegramAttached(BaseModel):
    model_config = ConfigDict(extra="allow")
    pin: str
    chat_id: int
    mode: Literal["polling", "inline"]


class TelegramChat(BaseModel):
    model_config = ConfigDict(extra="allow")
    chat_id: int
    mode: Literal["polling", "inline"]


class TelegramInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    bot_username: str | None = Field(description="the bot players talk to")
    host_link: str | None = Field(description="private deep link that makes its opener the host (a secret)")
    chats: list[TelegramChat] = Field(description="chats showing this game")


def _describe() -> None:
    try:
        from gameserver.openapi import Operation, register_operation
    except ImportError:  # the OpenAPI document is optional
        return
    token_errors = {401: ["unauthorized"], 403: ["not_host"], 404: ["unknown_game", "telegram_off"]}
    register_operation(Operation(
        "POST", "/api/games/{pin}/telegram", "attachTelegramChat", "Show a game in a Telegram group",
        responses={201: TelegramAttached}, request=TelegramAttach, bearer=True, tags=("telegram",),
        errors={
            **token_errors, 403: ["not_host", "no_telegram_grant", "not_chat_admin"], 409: ["chat_busy"],
            410: ["finished"], 422: ["bad_message"],
        },
        description="The bot posts a lobby with a Join button; Telegram users play under their Telegram "
        "names. Needs the host token and `admin_user_id`: a Telegram user who proved to host this game "
        "in a private chat with the bot and administers the group. A game still running in the group is "
        "never displaced (`409 chat_busy`). `404 telegram_off` when this server runs no Telegram bridge.",
    ))
    register_operation(Operation(
        "GET", "/api/games/{pin}/telegram", "getTelegramInfo", "The game's Telegram bot, host link and chats",
        responses={200: TelegramInfo}, bearer=True, tags=("telegram",), errors=token_errors,
    ))


_describe()
