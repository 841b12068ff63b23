"""The test servers' migrated SQLite database (`tests.premigrated_sqlite`): one file at the
shipped head, whole without its WAL, put only where no database is yet."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from persistence.db import shipped_head
from tests.premigrated_sqlite import DATABASE_FILE, install, uses_default_sqlite


def applied_revision(database: Path) -> str:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        connection.close()


def test_a_new_data_directory_gets_a_database_at_the_shipped_head(tmp_path: Path) -> None:
    install(tmp_path / "data")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [DATABASE_FILE]  # no -wal or -shm beside it
    assert applied_revision(tmp_path / "data" / DATABASE_FILE) == shipped_head()


def test_a_database_already_there_is_kept(tmp_path: Path) -> None:
    (tmp_path / DATABASE_FILE).write_bytes(b"the previous server's data")
    install(tmp_path)
    assert (tmp_path / DATABASE_FILE).read_bytes() == b"the previous server's data"


def test_only_servers_without_a_database_url_use_the_data_directory() -> None:
    assert uses_default_sqlite({}) and uses_default_sqlite({"LIVEQUIZ_DATABASE_URL": ""})
    assert not uses_default_sqlite({"LIVEQUIZ_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"})
