"""A migrated database taken back to how the migrations left it, in milliseconds.

A test that needs a fresh database many times over (a Hypothesis state machine: one per
example) migrates once and `rewind`s before each use instead: every table the migrations left
empty is emptied again (children before parents) and its ids restart, on SQLite and on
PostgreSQL, so the same steps give the same ids as on a new database. The tables the migrations
filled (the sample exams) are left alone, and `rewind` fails if a use changed how many rows
they hold: it could not take such a change back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData, bindparam, text
from sqlalchemy.engine import Connection

from persistence.db import Database

MIGRATIONS_TABLE = "alembic_version"


@dataclass(frozen=True)
class Migrated:
    """What the migrations left: the tables they left empty (children first), the row counts
    of the ones they filled, and (PostgreSQL) the sequences of the empty ones' ids."""

    empty: tuple[str, ...]
    filled: dict[str, int]
    sequences: tuple[str, ...]
    postgres: bool


def _tables_children_first(connection: Connection) -> list[str]:
    metadata = MetaData()
    metadata.reflect(connection)
    return [t.name for t in reversed(metadata.sorted_tables) if t.name != MIGRATIONS_TABLE]


async def remember(db: Database) -> Migrated:
    """Note what the migrations left in `db` (call it right after `db.upgrade()`)."""
    async with db.session() as session:
        connection = await session.connection()
        tables = await connection.run_sync(_tables_children_first)
        counts = {t: int((await connection.execute(text(f'SELECT COUNT(*) FROM "{t}"'))).scalar_one()) for t in tables}
        empty = tuple(t for t in tables if counts[t] == 0)
        postgres = connection.dialect.name == "postgresql"
        sequences: tuple[str, ...] = ()
        if postgres:  # serial and identity columns' sequences (auto and internal dependencies)
            found = await connection.execute(
                text(
                    "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
                    "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = s.relnamespace "
                    "WHERE s.relkind = 'S' AND n.nspname = current_schema() AND t.relname IN :tables"
                ).bindparams(bindparam("tables", expanding=True)),
                {"tables": list(empty)},
            )
            sequences = tuple(sorted(str(name) for name in found.scalars()))
    return Migrated(empty, {t: n for t, n in counts.items() if n}, sequences, postgres)


async def rewind(db: Database, migrated: Migrated) -> None:
    """Take `db` back to what `remember` noted (one transaction)."""
    async with db.transaction() as session:
        connection = await session.connection()
        deletes = [f'DELETE FROM "{table}"' for table in migrated.empty]
        if migrated.postgres:  # one round trip for the lot, not one per table and sequence
            restarts = [f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in migrated.sequences]
            await connection.execute(text(f"DO $$ BEGIN {'; '.join(deletes + restarts)}; END $$"))
        else:  # no such block in SQLite, where a statement is a call in-process, not a round trip
            for delete in deletes:
                await connection.execute(text(delete))
            # AUTOINCREMENT tables remember their last id here
            counters = await connection.execute(text("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'"))
            if counters.first() is not None:
                await connection.execute(
                    text("DELETE FROM sqlite_sequence WHERE name IN :tables").bindparams(
                        bindparam("tables", expanding=True)
                    ),
                    {"tables": list(migrated.empty)},
                )
        for table, rows in migrated.filled.items():
            now = int((await connection.execute(text(f'SELECT COUNT(*) FROM "{table}"'))).scalar_one())
            assert now == rows, f"{table} held {rows} rows after the migrations and {now} now: cannot rewind"
