"""A serving process never holds Alembic (~11 MiB): `livequiz serve` migrates in a forked child
(`persistence.db.run_upgrade_apart`), and the app's start-up check and `/readyz` read where the
database stands with plain SQL. And the ORM's mappers are configured at start-up, not by the
first request or sweep that uses them. Run in a fresh interpreter, as `serve` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from sqlalchemy import inspect
from starlette.testclient import TestClient
from persistence.db import run_upgrade_apart
from persistence.exams.models import Attempt
from gameserver.app import create_app
from gameserver.settings import Settings

settings = Settings()
revision = run_upgrade_apart(settings.database_url, settings.data_dir, settings.database_schema or None)
app = create_app(settings)
configured_before = inspect(Attempt).configured
with TestClient(app) as client:  # runs the app's start-up, as uvicorn would
    configured_at_start = inspect(Attempt).configured
    ready = client.get("/readyz")
print(json.dumps({"revision": revision, "status": ready.status_code, "ready": ready.json(),
                  "alembic": sorted(m for m in sys.modules if m.split(".")[0] == "alembic"),
                  "mappers": [configured_before, configured_at_start]}))
"""


def test_the_serving_process_migrates_apart_and_never_imports_alembic(tmp_path: Path, redis_url: str) -> None:
    from persistence.db import head_revision

    env = dict(os.environ) | {"LIVEQUIZ_DATA_DIR": str(tmp_path / "data"), "LIVEQUIZ_REDIS_URL": redis_url}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["revision"] == head_revision()  # the child migrated the fresh database
    assert seen["status"] == 200 and seen["ready"]["database"] == "ok", seen
    assert seen["alembic"] == [], seen["alembic"]
    assert seen["mappers"] == [False, True]  # configured by the start-up, before any request
