"""The accounts API's limits and admin side against real server processes sharing one Redis,
on SQLite and PostgreSQL: auth 5/min per address, anonymous 30/min per address, signed-in
60/min per user (held across processes); `livequiz admin create|grant`; the audit log.

The limits count per wall-clock minute, the previous minute weighted by how much of it is still
inside the last 60 s, so requests that straddle a minute's end weigh less afterwards and let one
more through. A limit's test therefore checks that its requests all fell within one minute (the
servers stamp them between the test's first send and its last answer) and, when they did not,
plays again with a fresh address or user: right after a minute began, the next run fits. No
waiting for a minute's start, and no need to run alone."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar
from unittest import mock

import httpx
import pytest
from redis.asyncio import Redis

from gameserver import cli
from tests.accounts_support import accounts_server, backends, bearer, client, fresh_address, register
from tests.sql_support import SqlTarget
from tests.support import ServerProcess


@pytest.fixture(scope="module", params=backends())
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with SqlTarget.prepared(request.param, tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


#: PLATFORM.md's numbers (the test harness turns the limits off for every other test).
CONTRACT_LIMITS = {"LIVEQUIZ_PLATFORM_RATE_ANONYMOUS": "30", "LIVEQUIZ_PLATFORM_RATE_USER": "60",
                   "LIVEQUIZ_PLATFORM_RATE_AUTH": "5"}


@pytest.fixture(scope="module")
def servers(target: SqlTarget, data_dir: Path, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with accounts_server(target, data_dir / "a", redis_url, CONTRACT_LIMITS) as first, \
            accounts_server(target, data_dir / "b", redis_url, CONTRACT_LIMITS) as second:
        yield first, second


T = TypeVar("T")
#: Runs of one test: a straddling run is followed by one early in a minute, which fits.
RUNS = 3


async def within_one_minute(run: Callable[[], Awaitable[T]]) -> T:
    """What `run` returned from a run whose requests all fell within one wall-clock minute
    (see the module's docstring); each run must use a fresh address or user."""
    for _ in range(RUNS):
        minute = time.time() // 60
        result = await run()
        if time.time() // 60 == minute:
            return result
    raise AssertionError(f"{RUNS} runs in a row straddled a minute's end")


async def livequiz(target: SqlTarget, data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`livequiz ARGS` with the servers' settings, its exit code and output. Run here, as the
    console script runs it (`raise SystemExit(main())`), not in a `python` of its own: what
    these tests check is the command's answer and its effect on the servers' database, and a
    process would only add ~3 s of imports per command. In a thread, since the command runs
    its own event loop."""
    env = target.server_env() | {"LIVEQUIZ_DATA_DIR": str(data_dir / "a")}

    def run() -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, env), mock.patch("sys.stdin", io.StringIO(stdin)), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as ended:  # as Python ends on it: a message goes to stderr, exit code 1
                if isinstance(ended.code, int) or ended.code is None:
                    code = ended.code or 0
                else:
                    print(ended.code, file=sys.stderr)
                    code = 1
        return subprocess.CompletedProcess(["livequiz", *args], code, out.getvalue(), err.getvalue())

    return await asyncio.to_thread(run)


async def test_auth_endpoints_take_5_a_minute_per_address_across_processes(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = servers

    async def run() -> tuple[list[int], httpx.Response, httpx.Response]:
        address = fresh_address()
        statuses = []
        for i in range(5):
            async with client(first if i % 2 else second, address) as http:
                login = await http.post("/api/auth/login", json={"login": "x_x", "password": "y"})
                statuses.append(login.status_code)
        async with client(first, address) as http:
            over = await http.post("/api/auth/register", json={})
        async with client(second, address) as http:
            reset = await http.post("/api/auth/reset", json={"login": "x_x"})
        return statuses, over, reset

    statuses, over, reset = await within_one_minute(run)
    async with client(second) as http:
        elsewhere = await http.post("/api/auth/login", json={"login": "x_x", "password": "y"})
    assert statuses == [401] * 5
    for response in (over, reset):
        assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(response.headers["retry-after"]) <= 60
    assert elsewhere.status_code == 401


async def test_anonymous_requests_take_30_a_minute_per_address(servers: tuple[ServerProcess, ServerProcess]) -> None:
    async def run() -> list[int]:
        address = fresh_address()
        codes = []
        for i in range(31):
            async with client(servers[i % 2], address) as http:
                codes.append((await http.get("/api/me")).status_code)
        return codes

    assert await within_one_minute(run) == [401] * 30 + [429]
    async with client(servers[0]) as http:
        assert (await http.get("/api/me")).status_code == 401


async def _forget_user_counts(redis_url: str, *user_ids: int) -> None:
    """Counts are per user id; both backends' runs share the test Redis and number users alike."""
    redis = Redis.from_url(redis_url)
    try:
        for user_id in user_ids:
            keys = [key async for key in redis.scan_iter(match=f"livequiz:rl:{{user:{user_id}}}:*")]
            if keys:
                await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_signed_in_requests_take_60_a_minute_per_user(
    servers: tuple[ServerProcess, ServerProcess], redis_url: str,
) -> None:
    first, second = servers
    runs = itertools.count()

    async def run() -> tuple[list[int], httpx.Response]:
        n = next(runs)
        limited = await register(first, f"busy_user_{n}")
        calm = await register(first, f"calm_user_{n}")
        await _forget_user_counts(redis_url, limited["user"]["id"], calm["user"]["id"])
        codes = []
        async with client(first, headers=bearer(limited["token"])) as one, \
                client(second, headers=bearer(limited["token"])) as two:
            for i in range(61):
                codes.append((await (one if i % 2 else two).get("/api/me")).status_code)
        async with client(first, headers=bearer(calm["token"])) as http:
            other_user = await http.get("/api/me")
        return codes, other_user

    codes, other_user = await within_one_minute(run)
    assert codes == [200] * 60 + [429]
    assert other_user.status_code == 200


async def test_admin_create_prints_a_password_that_signs_in_as_admin(
    servers: tuple[ServerProcess, ServerProcess], target: SqlTarget, data_dir: Path,
) -> None:
    done = await livequiz(target, data_dir, "admin", "create", "first_admin")
    assert done.returncode == 0, done.stderr
    password = done.stdout.split("password: ")[1].strip()
    again = await livequiz(target, data_dir, "admin", "create", "first_admin")
    assert again.returncode == 1 and "exists" in again.stderr
    async with client(servers[0]) as http:
        signed_in = await http.post("/api/auth/login", json={"login": "first_admin", "password": password})
    assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "admin"


async def test_admin_create_reads_a_password_from_stdin_and_checks_it(
    servers: tuple[ServerProcess, ServerProcess], target: SqlTarget, data_dir: Path,
) -> None:
    weak = await livequiz(target, data_dir, "admin", "create", "stdin_admin", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 8" in weak.stderr
    done = await livequiz(target, data_dir, "admin", "create", "stdin_admin", "--password-stdin",
                          stdin="Chosen pass 9\n")
    assert done.returncode == 0 and "password" not in done.stdout  # never echoed back
    async with client(servers[1]) as http:
        signed_in = await http.post("/api/auth/login", json={"login": "stdin_admin", "password": "Chosen pass 9"})
    assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "admin"


async def test_db_upgrade_reports_the_head_revision(target: SqlTarget, data_dir: Path,
                                                    servers: tuple[ServerProcess, ServerProcess]) -> None:
    from persistence.db import head_revision

    done = await livequiz(target, data_dir, "db", "upgrade")
    assert done.returncode == 0 and done.stdout.strip() == f"database at revision {head_revision()}"


async def test_admins_read_the_audit_log_and_change_roles_others_may_not(
    servers: tuple[ServerProcess, ServerProcess], target: SqlTarget, data_dir: Path,
) -> None:
    boss = await register(servers[0], "the_boss")
    worker = await register(servers[0], "the_worker")
    async with client(servers[1], headers=bearer(worker["token"])) as http:
        refused = await http.get("/api/admin/audit")
        refused_role = await http.post(f"/api/admin/users/{worker['user']['id']}/role", json={"role": "admin"})
    assert refused.status_code == refused_role.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert (await livequiz(target, data_dir, "admin", "grant", "the_boss")).returncode == 0
    missing = await livequiz(target, data_dir, "admin", "grant", "nobody_at_all")
    assert missing.returncode == 1 and "no user" in missing.stderr
    async with client(servers[1], headers=bearer(boss["token"])) as http:
        promoted = await http.post(f"/api/admin/users/{worker['user']['id']}/role", json={"role": "admin"})
        self_change = await http.post(f"/api/admin/users/{boss['user']['id']}/role", json={"role": "user"})
        bad_role = await http.post(f"/api/admin/users/{worker['user']['id']}/role", json={"role": "owner"})
        log = await http.get("/api/admin/audit", params={"user": worker["user"]["id"], "limit": 5})
        edit = await http.delete("/api/admin/audit")
        by_action = await http.get("/api/admin/audit", params={"action": "role.change"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert self_change.status_code == 403 and bad_role.status_code == 422
    entries = log.json()["items"]
    assert log.status_code == 200 and entries[0]["action"] == "role.change"
    assert entries[0]["actor_id"] == boss["user"]["id"] and entries[0]["details"]["to"] == "admin"
    assert entries[-1]["action"] == "register" and set(entries[0]) >= {"id", "at", "action", "ip", "details"}
    assert edit.status_code == 405  # nobody edits the log
    assert {e["details"]["via"] for e in by_action.json()["items"]} >= {"cli", "http"}
