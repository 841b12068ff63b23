"""Helpers for the Telegram tests: the real app in-process (uvicorn, real Redis) with the bridge
pointed at the fake Bot API, plus small waiting and scoring helpers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from gameserver.app import create_app
from gameserver.clock import Clock
from gameserver.context import LiveContext
from gameserver.settings import Settings
from gameserver.telegram_wiring import start_telegram, telegram_routes
from scoring.points import points
from tests import premigrated_sqlite
from tests.fakes import FakeTelegram
from transports.telegram import TelegramRuntime

GROUP = -1001234567890


def with_telegram(app: Starlette) -> Starlette:
    """What the two lines in gameserver/app.py do (start the bridge in the lifespan, add the
    routes), unless app.py already does it."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[Any]:
        async with inner(a) as state:
            live: LiveContext = a.state.live
            ours = "telegram" not in live.extras
            if ours:
                live.extras["telegram"] = await start_telegram(live)
            try:
                yield state
            finally:
                runtime = live.extras.pop("telegram", None) if ours else None
                if runtime is not None:
                    await runtime.stop()

    app.router.lifespan_context = lifespan
    paths = {getattr(r, "path", None) for r in app.router.routes}
    if "/telegram/webhook" not in paths:
        app.router.routes[:0] = telegram_routes()
    return app


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class LiveServer:
    port: int
    app: Starlette

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def live(self) -> LiveContext:
        return self.app.state.live  # type: ignore[no-any-return]

    @property
    def runtime(self) -> TelegramRuntime:
        runtime = self.live.extras.get("telegram")
        assert runtime is not None, "the Telegram bridge did not start"
        return runtime  # type: ignore[no-any-return]


def make_settings(tg: FakeTelegram, redis_url: str, data_dir: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "data_dir": data_dir,
        "sweep_interval_ms": 300,
        "lobby_interval_ms": 100,
        "close_grace_ms": 100,
        "telegram_token": tg.token,
        "telegram_api_url": tg.base_url,
    }
    settings = Settings(**(values | extra))
    if not settings.database_url:  # the app would migrate a fresh file at start (~0.4 s)
        premigrated_sqlite.install(Path(settings.data_dir))
    return settings


@asynccontextmanager
async def live_server(settings: Callable[[int], Settings], clock: Clock | None = None) -> AsyncIterator[LiveServer]:
    """The real app with the bridge, on 127.0.0.1:<free port>, in this event loop (on `clock`,
    by default the system's)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    app = with_telegram(create_app(settings(port), clock=clock))
    server = _Quiet(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited during startup")
        await asyncio.sleep(0.01)
    try:
        yield LiveServer(port, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def wait_until(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)


HOST_USER = 777  # the Telegram user who hosts in the tests: an admin of the group


async def grant_host(server: LiveServer, tg: FakeTelegram, game: dict[str, Any], user_id: int = HOST_USER) -> None:
    """The host opens the deep link of their host screen in a private chat with the bot."""
    async with httpx.AsyncClient() as http:
        info = (await http.get(
            f"{server.base_url}/api/games/{game['pin']}/telegram",
            headers={"Authorization": f"Bearer {game['host_token']}"},
        )).json()
    payload = info["host_link"].split("?start=", 1)[1]
    tg.send_text(user_id, tg.user(user_id, "Host"), f"/start {payload}")
    bridge = server.runtime.bridge
    await wait_until(lambda: (user_id, game["pin"]) in bridge.grants, what="host grant")


async def post_attach(
    server: LiveServer, game: dict[str, Any], chat_id: int, mode: str, admin_user_id: int = HOST_USER
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{server.base_url}/api/games/{game['pin']}/telegram",
            json={"chat_id": chat_id, "mode": mode, "admin_user_id": admin_user_id},
            headers={"Authorization": f"Bearer {game['host_token']}"},
        )


async def attach(server: LiveServer, game: dict[str, Any], chat_id: int, mode: str, tg: FakeTelegram) -> None:
    """Attach the way a host does: grant in private, admin of the group, then the HTTP attach."""
    tg.set_admin(chat_id, HOST_USER)
    await grant_host(server, tg, game)
    response = await post_attach(server, game, chat_id, mode)
    assert response.status_code == 201, response.text


async def results(server: LiveServer, game: dict[str, Any]) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{server.base_url}/api/games/{game['pin']}/results",
            headers={"Authorization": f"Bearer {game['host_token']}"},
        )
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()["results"]}


async def expected_scores(
    server: LiveServer, pin: str, quiz: dict[str, Any], deadlines: dict[int, int]
) -> dict[str, int]:
    """Every player's total by the points formula, from the answers Redis recorded."""
    store = server.live.store
    names = await store.players(pin)
    totals = dict.fromkeys(names.values(), 0)
    for index, deadline in deadlines.items():
        question = quiz["questions"][index]
        for player_id, answer in (await store.answers(pin, index)).items():
            totals[names[player_id]] += points(
                correct=answer.option == question["correct"], received_ms=answer.received_ms,
                deadline_ms=deadline, time_limit_ms=question["time_limit"] * 1000,
            )
    return totals
