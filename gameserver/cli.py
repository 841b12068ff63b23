"""`livequiz` console script: serve, demo, redis."""

from __future__ import annotations

import argparse
import copy
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from gameserver.admin_cli import add_admin_commands
from gameserver.embedded_redis import EmbeddedRedis
from gameserver.metrics import prepare_multiprocess_dir
from gameserver.openfiles import connection_limit, raise_open_files_limit
from gameserver.settings import BadSettings, Settings
from gameserver.wallet_cli import add_wallet_commands
from persistence.db import run_upgrade_apart

SAMPLES = Path(__file__).parent / "samples"
#: Seconds a stopping server waits for HTTP requests still in flight (see `_uvicorn_kwargs`).
SHUTDOWN_GRACE_S = 1


#: Our own loggers: without this only their warnings reached stderr (Python's last-resort
#: handler), so start-up facts such as the connection room or the private Redis were lost.
APP_LOGGERS = ("livequiz", "gameserver", "transports", "persistence")


#: One JSON object per line (`log_format = "json"`), for log collectors: the fields every
#: record has, renamed to the names collectors expect; exceptions come as `exc_info` text.
JSON_FORMATTER = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
}


def _log_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging, plus our loggers on its stderr handler at the `--log-level`; with
    `log_format="json"` every handler (uvicorn's access log included) writes JSON lines."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    for name in APP_LOGGERS:
        config["loggers"][name] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    if log_format == "json":
        config["formatters"] = {"default": JSON_FORMATTER, "access": JSON_FORMATTER}
    return config


def _uvicorn_kwargs(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "log_config": _log_config(args.log_level, settings.log_format),
        "host": args.host,
        "port": args.port,
        "ws_max_size": settings.max_message_bytes,
        "log_level": args.log_level,
        "backlog": 4096,
        "ws": "gameserver.wsprotocol:FastWebSocketProtocol",
        "http": "gameserver.httpprotocol:UpgradeFriendlyHttpProtocol",
        "ws_per_message_deflate": False,
        # Keep-alive pings find dead peers; every 20 s (uvicorn's default) is 1,500 pings a
        # second at 30,000 sockets. Clients that want a faster check send protocol `ping`s.
        "ws_ping_interval": 60.0,
        "ws_ping_timeout": 30.0,
        # On SIGTERM, requests still in flight get this long: an API request takes milliseconds,
        # game sockets are closed at once (1012), so only a stalled upload would wait, and it
        # used to hold every restart for 5 s or more.
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_S,
        # A client's address (per-address limits, `iplimits`) is the socket's peer, or what a
        # listed proxy says in X-Forwarded-For; with no proxy listed, no header is believed.
        "proxy_headers": bool(settings.trusted_proxies.strip()),
        "forwarded_allow_ips": settings.trusted_proxies.strip() or None,
        # HTTP requests beyond it get uvicorn's 503; WebSocket upgrades bypass uvicorn's check,
        # so `FastWebSocketProtocol` applies the same limit to them.
        "limit_concurrency": connection_limit(settings.max_connections, redis_pool_size=settings.redis_pool_size),
    }


def _check_fast_path() -> None:
    """Refuse to serve on library versions whose internals the fast socket path does not know
    (`fastpath_adapter`): loudly now, rather than every socket failing in class."""
    from gameserver.fastpath_adapter import incompatibilities

    problems = incompatibilities()
    if problems:
        raise SystemExit("livequiz: cannot serve on these library versions (install with -c constraints.txt):\n  "
                         + "\n  ".join(problems))


def serve(args: argparse.Namespace) -> int:
    _check_fast_path()
    if args.lan:
        from gameserver.lan import LISTEN_ALL, lan_public_url

        # Listen on every interface and put the address phones can open in join links and QR codes.
        args.host = LISTEN_ALL
        os.environ["LIVEQUIZ_PUBLIC_URL"] = lan_public_url(args.port)
        print(f"Players join at {os.environ['LIVEQUIZ_PUBLIC_URL']}/play", flush=True)
    settings = Settings()
    raise_open_files_limit()  # before the workers start: they inherit it
    # Migrate once, here, before any worker starts (each worker's check then finds nothing to do),
    # in a child process: Alembic stays out of every serving process.
    run_upgrade_apart(settings.database_url, settings.data_dir, settings.database_schema or None)
    if args.workers > 1:  # /metrics of any worker answers for all of them (gameserver.metrics)
        prepare_multiprocess_dir(settings.data_dir)
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url and args.workers > 1:
        # Several workers must share one Redis: start it here, hand its URL to every worker.
        embedded = EmbeddedRedis(settings.data_dir / "redis", supervise=True)  # restarted if it dies
        os.environ["LIVEQUIZ_REDIS_URL"] = embedded.start()
    try:
        if args.workers > 1:
            uvicorn.run(
                "gameserver.app:create_app", factory=True, workers=args.workers, **_uvicorn_kwargs(settings, args)
            )
        else:
            from gameserver.app import create_app

            uvicorn.run(create_app(settings), **_uvicorn_kwargs(settings, args))
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _create_sample_game(base_url: str, sample: str) -> dict[str, object]:
    import httpx

    quiz = orjson.loads((SAMPLES / f"{sample}.json").read_bytes())
    response = httpx.post(f"{base_url}/api/games", json=quiz, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def demo(args: argparse.Namespace) -> int:
    # Here, not at module level: `serve` never needs httpx, which with its command-line extras
    # (rich, click, pygments) is ~0.15 s of CPU in every server start.
    import httpx

    base_url = args.url.rstrip("/")
    try:
        httpx.get(f"{base_url}/healthz", timeout=2).raise_for_status()
    except httpx.HTTPError:
        print(f"No server answers at {base_url}; start one with: livequiz serve", file=sys.stderr)
        return 1
    game = _create_sample_game(base_url, args.sample)
    pin, token = game["pin"], game["host_token"]
    print(f"PIN:        {pin}")
    print(f"Host token: {token}")
    print(f"Host page:  {base_url}/host?pin={pin}#token={token}")
    print(f"Join page:  {base_url}/play?pin={pin}")
    print(f"Host socket: {base_url.replace('http', 'ws', 1)}/ws/host/{pin}")
    print(f"Player socket: {base_url.replace('http', 'ws', 1)}/ws/play/{pin}")
    return 0


def redis_command(args: argparse.Namespace) -> int:
    server = EmbeddedRedis(Path(args.data_dir), port=args.port, appendonly=not args.no_aof)
    print(server.start(), flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop:
            time.sleep(0.2)
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="livequiz", description="Real-time group quiz game server")
    commands = parser.add_subparsers(dest="command", required=True)

    p_serve = commands.add_parser("serve", help="run the server")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--workers", type=int, default=1)
    p_serve.add_argument("--log-level", default="info")
    p_serve.add_argument(
        "--lan", action="store_true",
        help="serve the classroom network: listen on 0.0.0.0, join links show this machine's LAN address "
        "(or LIVEQUIZ_PUBLIC_URL)",
    )
    p_serve.set_defaults(func=serve)

    p_demo = commands.add_parser("demo", help="create a sample game on a running server and print how to join")
    p_demo.add_argument("--url", default="http://127.0.0.1:8000")
    p_demo.add_argument("--sample", default="demo")
    p_demo.set_defaults(func=demo)

    p_redis = commands.add_parser("redis", help="run a private Redis in the foreground (prints its URL)")
    p_redis.add_argument("--port", type=int, default=0, help="0: a unix socket under --data-dir")
    p_redis.add_argument("--data-dir", default="data/redis")
    p_redis.add_argument("--no-aof", action="store_true")
    p_redis.set_defaults(func=redis_command)

    add_admin_commands(commands)  # admin create/grant, db upgrade
    add_wallet_commands(commands)  # wallet check, wallet purge-keys

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BadSettings as bad:  # a line per bad variable, before anything starts; no traceback
        raise SystemExit(f"livequiz: {bad}") from None


if __name__ == "__main__":
    raise SystemExit(main())

