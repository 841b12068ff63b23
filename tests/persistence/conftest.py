"""Every persistence test runs on SQLite and, when LIVEQUIZ_TEST_DATABASE_URL is set (CI sets
it to the machine's PostgreSQL), on PostgreSQL too, each in a fresh schema it drops after."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from persistence.db import Database
from tests.sql_support import SqlTarget


@pytest.fixture
async def database(sql_target: SqlTarget) -> AsyncIterator[Database]:
    """A migrated database, empty but for the schema."""
    db = Database(sql_target.url, schema=sql_target.schema)
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()

