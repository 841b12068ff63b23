"""The shipped migrations upgrade an empty database to head and back, on every backend."""

from __future__ import annotations

from sqlalchemy import inspect

from persistence.db import Database, head_revision, shipped_head
from tests.sql_support import SqlTarget

PLATFORM_TABLES = {"users", "auth_tokens", "telegram_link_codes", "audit_log", "game_results", "player_results"}


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def test_upgrade_to_head_then_down_to_base(sql_target: SqlTarget) -> None:
    db = Database(sql_target.url, schema=sql_target.schema)
    try:
        assert await db.current_revision() is None
        await db.upgrade()
        assert await db.current_revision() == head_revision()
        assert await db.is_at_head()
        assert PLATFORM_TABLES <= await _tables(db)
        await db.downgrade("base")
        assert await db.current_revision() is None
        assert await _tables(db) == set()
        await db.upgrade()  # and up again: downgrade left nothing behind that blocks it
        assert PLATFORM_TABLES <= await _tables(db)
    finally:
        await db.dispose()


async def test_upgrade_twice_is_a_no_op(database: Database) -> None:
    before = await database.current_revision()
    await database.upgrade()
    assert await database.current_revision() == before == head_revision()


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    # `shipped_head` parses the scripts so that a serving process need not import Alembic.
    assert shipped_head() == head_revision()
