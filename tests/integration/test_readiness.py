"""`GET /readyz`: ready only when Redis (one, or every master of a Redis Cluster) and the
migrated SQL database answer."""

from __future__ import annotations

from pathlib import Path

import httpx

from persistence.db import Database
from tests.platform_support import platform_server
from tests.sql_support import SqlTarget


async def test_readyz_says_ready_when_redis_and_the_migrated_database_answer(
    sql_target: SqlTarget, tmp_path: Path, engine_url: str
) -> None:
    with platform_server(sql_target, tmp_path / "server", engine_url) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "redis": "ok", "database": "ok"}
        db = Database(sql_target.url, schema=sql_target.schema)
        try:
            await db.downgrade("base")  # as if a newer release's migrations were not applied yet
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                unready = await http.get("/readyz")
            assert unready.status_code == 503
            assert unready.json()["database"] == "migrations pending"
        finally:
            await db.dispose()
