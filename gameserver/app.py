"""The Starlette application: HTTP API, WebSocket endpoints, web pages, background work.

`create_app()` is the factory uvicorn calls in every worker process. Each process connects to
the shared Redis (or, with no URL configured and a single process, starts a private one),
subscribes to the games it holds sockets for, and sweeps due deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from gameserver.archiver import ResultsArchiver
from gameserver.classroom import classroom_routes
from gameserver.clock import Clock, SystemClock
from gameserver.context import LiveContext
from gameserver.deadlines import REQUEST_DEADLINES
from gameserver.embedded_redis import EmbeddedRedis
from gameserver.gcwatch import Freezer, GcHold, GcWatch, freeze, tune
from gameserver.http_api import api_exception_handlers, api_routes
from gameserver.hub import Hub
from gameserver.metrics import metrics_routes, process_exited
from gameserver.openapi import openapi_routes
from gameserver.openfiles import connection_limit, open_files_limit
from gameserver.platform import platform_routes
from gameserver.platform.attempt_sweeper import AttemptSweeper
from gameserver.platform.housekeeping import Housekeeping
from gameserver.platform.speaking_channel import stop_channels
from gameserver.readiness import readiness_routes
from gameserver.redis_client import close_redis, open_redis
from gameserver.service import GameService
from gameserver.settings import Settings
from gameserver.sqlworker import SqlWorker
from gameserver.store import GameStore
from gameserver.store.batcher import ReplicaWait
from gameserver.telegram_wiring import start_telegram, telegram_routes
from gameserver.ws import host_endpoint, play_endpoint
from gameserver.wsprotocol import stamp_with
from persistence import blobs
from persistence.db import open_database

log = logging.getLogger("livequiz")


def _log_connection_room(settings: Settings) -> None:
    """Say at start how many connections this process takes (`livequiz serve` enforces it), and
    warn when a full game would not fit: an operator finds out now, not at the 1,000th join."""
    room = connection_limit(settings.max_connections, redis_pool_size=settings.redis_pool_size)
    log.info("open files: %d; this process takes up to %d connections", open_files_limit(), room)
    if room <= settings.max_players:
        log.warning(
            "a full game (%d players and a host) needs more connections than this process takes (%d): "
            "raise the open-files limit (ulimit -Hn, systemd LimitNOFILE=) or run more workers",
            settings.max_players, room,
        )


#: The game sockets, `/ws/{role}/{pin}`: their routes and `LiveQuizApp`'s shortcut both come
#: from this table, and the pattern matches what the routes' `{pin}` matches (`[^/]+`).
GAME_SOCKETS = {"play": play_endpoint, "host": host_endpoint}
GAME_SOCKET_PATH = re.compile(r"^/ws/(" + "|".join(GAME_SOCKETS) + r")/([^/]+)$")


class LiveQuizApp(Starlette):
    """Starlette with one shortcut: a game WebSocket goes straight to its endpoint.

    A join storm opens thousands of them, and each would otherwise pass the middleware stack
    (which lets WebSockets through untouched), the exception wrappers and the router's scan of
    every route, and keep those coroutine frames alive for the whole game. Everything else,
    and every path the shortcut does not know, takes the normal way.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not scope.get("root_path"):
            match = GAME_SOCKET_PATH.match(scope["path"])
            if match is not None:
                scope["app"] = self
                scope["path_params"] = {"pin": match[2]}
                await GAME_SOCKETS[match[1]](WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


async def _sweep_forever(service: GameService, interval_s: float) -> None:
    while True:
        await service.clock.sleep(interval_s)  # the process clock: a FakeClock's advance sweeps
        try:
            await service.sweep()
        except Exception:
            log.exception("deadline sweep failed")


def _web_routes() -> list[BaseRoute]:
    try:
        from gameserver.web import web_routes
    except ImportError:
        return []
    return list(web_routes())


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    """The app; `clock` (a `gameserver.clock.FakeClock` in tests) is what all of it reads."""
    settings = settings or Settings()
    clock = clock if clock is not None else SystemClock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # First: a wrong blob_store_url stops the start before anything needs cleaning up.
        blobs.install(blobs.blob_store_from(settings))  # the platform's files (snapshots, audio)
        embedded: EmbeddedRedis | None = None
        gc_watch = GcWatch()
        gc_watch.install()
        tune()
        url = settings.redis_url
        if not url:
            embedded = EmbeddedRedis(settings.data_dir / "redis", supervise=True)  # restarted if it dies
            url = await asyncio.to_thread(embedded.start)
            log.info("started a private Redis at %s", url)
        redis = open_redis(url, settings.redis_pool_size)  # one Redis, or a cluster (redis+cluster://)
        waits = settings.answer_replicas  # acknowledge answers once replicas have them (docs/cluster.md)
        replica_wait = ReplicaWait(waits, settings.answer_replicas_timeout_ms) if waits else None
        store = GameStore(
            redis, game_ttl_s=settings.game_ttl_s, results_ttl_s=settings.results_ttl_s, clock=clock,
            replica_wait=replica_wait,
        )
        service = GameService(store, settings, clock)
        stamp_with(clock)  # the sockets' receive stamps
        REQUEST_DEADLINES.use_clock(clock)  # requests' header and body deadlines
        hub = Hub(
            redis, store, lobby_interval_ms=settings.lobby_interval_ms, now_ms=clock.now_ms,
            freezer=Freezer(), gc_hold=GcHold(), clock=clock,
        )
        await hub.start()
        # `livequiz serve` has migrated already (once, before the workers); this is a no-op
        # then, and the migration for an app started some other way.
        db = await open_database(settings.database_url, settings.data_dir, schema=settings.database_schema)
        sql_worker = SqlWorker(db.url, db.schema)
        sql_worker.start()
        archiver = ResultsArchiver(redis, sql_worker, lease_ms=settings.archive_lease_ms, clock=clock)
        service.on_finished = archiver.enqueue
        _log_connection_room(settings)
        freeze()  # what startup built (modules, routes, clients) lives as long as the process
        live = LiveContext(settings=settings, redis=redis, store=store, service=service, hub=hub, db=db, clock=clock)
        app.state.live = live
        live.extras["telegram"] = await start_telegram(live)  # None without a bot token
        background: list[asyncio.Task[Any]] = [
            asyncio.create_task(_sweep_forever(service, settings.sweep_interval_ms / 1000), name="sweeper"),
            asyncio.create_task(archiver.run_forever(settings.archive_interval_ms / 1000), name="archiver"),
            asyncio.create_task(  # solo attempts past their deadline, finished without being touched
                AttemptSweeper(
                    redis, db, interval_s=settings.attempt_sweep_interval_ms / 1000, clock=clock
                ).run_forever(),
                name="attempt-sweeper",
            ),
            asyncio.create_task(  # ended tokens, old link codes and idempotency keys deleted
                Housekeeping(redis, db, interval_s=settings.housekeeping_interval_s, clock=clock).run_forever(),
                name="housekeeping",
            ),
        ]
        try:
            yield
        finally:
            if (telegram := live.extras.pop("telegram", None)) is not None:
                await telegram.stop()
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await service.shutdown()
            await hub.stop()
            await stop_channels(redis)  # the Speaking rooms' subscriber
            if hub.gc_hold is not None:
                hub.gc_hold.release_all()
            await archiver.stop()
            await asyncio.to_thread(sql_worker.stop)
            await db.dispose()
            await close_redis(redis)
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)
            gc_watch.uninstall()
            process_exited()
            stamp_with(SystemClock())  # a later app of this process (tests) starts from the real one
            REQUEST_DEADLINES.use_clock(SystemClock())

    routes: list[BaseRoute] = [
        *api_routes(),
        *platform_routes(),
        *readiness_routes(),
        *metrics_routes(),
        *telegram_routes(),
        *openapi_routes(),
        *classroom_routes(),
        *(WebSocketRoute(f"/ws/{role}/{{pin}}", endpoint) for role, endpoint in GAME_SOCKETS.items()),
        *_web_routes(),
    ]
    app = LiveQuizApp(routes=routes, lifespan=lifespan, exception_handlers=dict(api_exception_handlers()))
    app.state.settings = settings
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # pages and scripts over slow phone links
    try:
        from gameserver.web import SecurityHeadersMiddleware
    except ImportError:
        pass
    else:
        app.add_middleware(SecurityHeadersMiddleware)
    return app
