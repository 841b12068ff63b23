"""Server processes for the Telegram tests that run more than one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support import ServerProcess, start_server


async def start_servers(
    data_dirs: list[Path], redis_url: str, env: dict[str, str], log_level: str = "warning"
) -> list[ServerProcess]:
    """`start_server` for each data directory, all at once: a start is mostly waiting for the
    new process's imports and startup, which the processes do side by side on two cores. If
    any fails to start, those that did are stopped before the error is raised."""
    started = await asyncio.gather(
        *(asyncio.to_thread(start_server, data_dir, redis_url, env, log_level=log_level) for data_dir in data_dirs),
        return_exceptions=True,
    )
    servers = [s for s in started if isinstance(s, ServerProcess)]
    failure = next((s for s in started if isinstance(s, BaseException)), None)
    if failure is not None:
        for server in servers:
            server.stop()
        raise failure
    return servers
