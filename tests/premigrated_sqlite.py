"""A SQLite database already migrated to head, for the test servers' data directories.

`livequiz serve` migrates its database before it serves; on a fresh SQLite file that imports
Alembic and every migration script, ~0.7 s of CPU, and the suite starts over a hundred servers
on fresh data directories. Each test process makes one migrated file (with `livequiz db
upgrade`, the command operators run) and copies it into a new server's data directory, where
the server finds its database at head and leaves Alembic alone. Migrating a fresh database
stays tested where that is the subject: tests/persistence/test_migrations.py, the servers given
a database URL (`sql_target`), test_serve_lan and test_serving_imports.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from persistence.db import shipped_head

#: The file `persistence.db.database_url` opens under the data directory when no URL is set.
DATABASE_FILE = "livequiz.db"

_lock = threading.Lock()
_template: Path | None = None


def uses_default_sqlite(env: Mapping[str, str]) -> bool:
    """Whether a server started with `env` keeps its database in `LIVEQUIZ_DATA_DIR`."""
    return not env.get("LIVEQUIZ_DATABASE_URL")


def prepare(data_dir: Path, env: Mapping[str, str]) -> None:
    """`install` for a server started with `env`, if it keeps its database in `data_dir`."""
    if uses_default_sqlite(env):
        install(data_dir)


def install(data_dir: Path) -> None:
    """Put the migrated database into `data_dir`, unless a database is there already (a server
    restarted on its predecessor's data keeps that data)."""
    target = data_dir / DATABASE_FILE
    if target.exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template(), target)


def template() -> Path:
    """This process's migrated database, made on first use and removed when the process ends."""
    global _template
    with _lock:
        if _template is None:
            workdir = Path(tempfile.mkdtemp(prefix="livequiz-premigrated-"))
            atexit.register(shutil.rmtree, workdir, ignore_errors=True)
            _template = _migrated(workdir)
        return _template


def _migrated(data_dir: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if k not in ("LIVEQUIZ_DATABASE_URL", "LIVEQUIZ_DATABASE_SCHEMA")}
    env["LIVEQUIZ_DATA_DIR"] = str(data_dir)
    done = subprocess.run([sys.executable, "-m", "gameserver.cli", "db", "upgrade"], env=env,
                          capture_output=True, text=True, timeout=120)
    expected = f"database at revision {shipped_head()}"
    if done.returncode != 0 or done.stdout.strip() != expected:
        raise RuntimeError(f"`livequiz db upgrade` did not make a database at head: {done.stdout}{done.stderr}")
    database = data_dir / DATABASE_FILE
    # The database is in WAL mode: fold everything into the main file, so a copy of that one
    # file is the whole database (closing the last connection removes the empty WAL).
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    leftovers = [p.name for p in data_dir.glob(DATABASE_FILE + "-*")]
    if leftovers:
        raise RuntimeError(f"the migrated database left {leftovers} beside it: a copy of the file would miss them")
    return database
