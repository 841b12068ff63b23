"""Every persistence test runs on SQLite and, when LIVEQUIZ_TEST_DATABASE_URL is set (CI sets
it to the machine's PostgreSQL), on PostgreSQL too, each in a fresh schema it drops after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from persistence.db import Database
from tests.sql_support import PG_URL_ENV, SqlTarget, sql_targets


@pytest.fixture(params=sql_targets())
def sql_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTarget]:
    target: SqlTarget = request.param
    with target.prepared(tmp_path) as ready:
        yield ready


@pytest.fixture
async def database(sql_target: SqlTarget) -> AsyncIterator[Database]:
    """A migrated database, empty but for the schema."""
    db = Database(sql_target.url, schema=sql_target.schema)
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()


__all__ = ["PG_URL_ENV"]
