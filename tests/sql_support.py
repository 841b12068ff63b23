"""SQL backends for tests: SQLite always, PostgreSQL when LIVEQUIZ_TEST_DATABASE_URL is set.

A PostgreSQL target gets a schema of its own (created before, dropped after), so tests never
see each other's rows and leave nothing behind; a server process started for a test is
pointed at it with LIVEQUIZ_DATABASE_URL and LIVEQUIZ_DATABASE_SCHEMA.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from persistence.db import database_url

PG_URL_ENV = "LIVEQUIZ_TEST_DATABASE_URL"


@dataclass(frozen=True)
class SqlTarget:
    backend: str  # "sqlite" or "postgresql"
    url: str = ""
    schema: str | None = None

    def server_env(self) -> dict[str, str]:
        """What a `livequiz serve` process needs to use this target."""
        env = {"LIVEQUIZ_DATABASE_URL": self.url}
        if self.schema:
            env["LIVEQUIZ_DATABASE_SCHEMA"] = self.schema
        return env

    @contextmanager
    def prepared(self, tmp_path: Path) -> Iterator[SqlTarget]:
        if self.backend == "sqlite":
            yield replace(self, url=f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
            return
        schema = "t_" + secrets.token_hex(6)
        asyncio.run(_admin(self.url, f'CREATE SCHEMA "{schema}"'))
        try:
            yield replace(self, url=database_url(self.url, Path(".")), schema=schema)
        finally:
            asyncio.run(_admin(self.url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(database_url(url, Path(".")))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def vacuum_catalogs() -> None:
    """VACUUM the test database (its system catalogs above all), when there is one.

    Every PostgreSQL test creates a schema and drops it: thousands of catalog rows a run. With
    autovacuum off (as on this machine: 272,000 dead rows in pg_attribute after a day of runs)
    they stay, and every later run's DDL and catalog look-ups slow down. The run's controller
    calls this once at the start (~1 s)."""
    url = os.environ.get(PG_URL_ENV, "")
    if url:
        asyncio.run(_vacuum(url))


async def _vacuum(url: str) -> None:
    # VACUUM cannot run inside a transaction
    engine = create_async_engine(database_url(url, Path(".")), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("VACUUM"))
    finally:
        await engine.dispose()


def sql_targets() -> list[pytest.param]:  # type: ignore[valid-type]
    pg_url = os.environ.get(PG_URL_ENV, "")
    postgres = SqlTarget("postgresql", url=pg_url)
    return [
        pytest.param(SqlTarget("sqlite"), id="sqlite"),
        pytest.param(
            postgres, id="postgresql",
            marks=pytest.mark.skipif(not pg_url, reason=f"{PG_URL_ENV} is not set (no PostgreSQL to test against)"),
        ),
    ]
