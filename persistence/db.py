"""The SQL database of the platform: one async engine, sessions, and migrations at start.

By default a SQLite file under the data directory (WAL, so readers never wait for the one
writer, and a busy timeout instead of "database is locked"); `LIVEQUIZ_DATABASE_URL` points it
at PostgreSQL for real deployments and several machines. Plain URLs are given the async driver
this package ships with (`sqlite` → aiosqlite, `postgresql` → asyncpg), so an operator writes
the URL their other tools understand.

Migrations are Alembic's, shipped in `persistence/migrations` and applied by `upgrade()`:
`livequiz serve` runs it at start, `livequiz db upgrade` on demand. Alembic's runner is
synchronous; `upgrade()` drives it over the async engine through `run_sync` so one URL (and,
in tests, one PostgreSQL schema) serves both.

Alembic and the migration scripts are imported only to migrate (~11 MiB of a process): where
the database stands is read with plain SQL from Alembic's version table, and the newest
revision shipped from the scripts' `revision`/`down_revision` lines (`shipped_head`, checked
against Alembic's own answer by tests/persistence/test_migrations.py). `livequiz serve`
migrates in a forked child (`run_upgrade_apart`), so a serving process never holds Alembic.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import configure_mappers
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: Alembic's table of the applied revision (its default name).
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK_KEY = 0x6C69766571756979  # "liveqiy": any fixed number our processes agree on

#: Plain driver names → the async driver this package ships.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def database_url(configured: str, data_dir: Path) -> str:
    """The async URL to connect to: the configured one (driver made async), else the SQLite
    file `data_dir/livequiz.db`."""
    if not configured:
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(data_dir / 'livequiz.db').resolve()}"
    url = make_url(configured)
    driver = ASYNC_DRIVERS.get(url.drivername, url.drivername)
    return url.set(drivername=driver).render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """The engine and a session factory; `schema` (PostgreSQL only) isolates tests."""

    def __init__(self, url: str, *, schema: str | None = None, echo: bool = False) -> None:
        self.url = url
        self.schema = schema
        connect_args: dict[str, Any] = {}
        options: dict[str, Any] = {}
        if self.is_sqlite:
            # One writer at a time is SQLite's rule; waiting for it beats failing on it.
            connect_args["timeout"] = 10
        else:
            options["pool_size"] = 10
            options["max_overflow"] = 10
            options["pool_pre_ping"] = True
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, connect_args=connect_args, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.url).get_backend_name() == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def upgrade(self, revision: str = "head") -> None:
        if revision == "head" and await self.is_at_head():
            return  # nothing to apply: Alembic is not even imported
        async with self.engine.begin() as connection:
            if not self.is_sqlite:
                # Several processes or machines may start at once: one migrates, the others
                # wait here and then find nothing left to do (the lock ends with the transaction).
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await connection.run_sync(_run_alembic, "upgrade", revision)

    async def downgrade(self, revision: str = "base") -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(_run_alembic, "downgrade", revision)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as connection:
            return await connection.run_sync(_applied_revision)

    async def is_at_head(self) -> bool:
        return await self.current_revision() == shipped_head()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _applied_revision(connection: Connection) -> str | None:
    """The revision in Alembic's version table, None before the first migration (what
    `MigrationContext.get_current_revision` answers for our single line of revisions)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"{VERSION_TABLE} holds several revisions ({rows}); the migrations are one line")
    return str(rows[0]) if rows else None


@functools.cache
def shipped_head() -> str | None:
    """The newest revision of the migration scripts, read from their module-level `revision`
    and `down_revision` assignments (parsed, not imported): the one no other script follows."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        for node in ast.parse(script.read_text()).body:
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                value = ast.literal_eval(node.value)
                values = value if isinstance(value, tuple) else (value,)
                (revisions if target.id == "revision" else followed).update(v for v in values if v)
    heads = revisions - followed
    if len(heads) != 1:
        raise RuntimeError(f"the migration scripts have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """Alembic's own answer to `shipped_head` (imports Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _run_alembic(connection: Connection, action: str, revision: str) -> None:
    from alembic import command

    config = alembic_config(connection)
    if action == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


async def open_database(
    configured_url: str, data_dir: Path, *, schema: str | None = None, migrate: bool = True
) -> Database:
    """The database of the settings, migrated to head (what `livequiz serve` does at start).

    The ORM's mappers are configured here too: SQLAlchemy does it on first use otherwise (~10 ms
    for the platform's models), which in a server is whichever request or sweep comes first,
    mid-game perhaps, and after the start-up heap was frozen (`gcwatch.freeze`)."""
    configure_mappers()
    database = Database(database_url(configured_url, data_dir), schema=schema or None)
    if migrate:
        await database.upgrade()
    return database


def run_upgrade(configured_url: str, data_dir: Path, schema: str | None = None) -> str | None:
    """`livequiz db upgrade`: migrate and return the revision now applied."""

    async def _upgrade() -> str | None:
        database = await open_database(configured_url, data_dir, schema=schema)
        try:
            return await database.current_revision()
        finally:
            await database.dispose()

    return asyncio.run(_upgrade())


def run_upgrade_apart(configured_url: str, data_dir: Path, schema: str | None = None) -> str | None:
    """`run_upgrade` in a forked child process (what `livequiz serve` does before it serves):
    whatever migrating imports (Alembic, the scripts) dies with the child instead of staying in
    the serving process for its whole life. Errors are raised here, as they were raised there."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        return pool.submit(run_upgrade, configured_url, data_dir, schema).result()
