"""Test support for the platform: a server process on each SQL backend, and accounts made
straight in its database (so tests of one area need not go through another's endpoints)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from persistence.accounts import tokens
from persistence.accounts.models import User
from persistence.db import Database
from tests.sql_support import SqlTarget
from tests.support import ServerProcess, start_server


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_account(target: SqlTarget, username: str, role: str = "user") -> Account:
    """A user with an API token, written into the database a server uses."""
    db = Database(target.url, schema=target.schema)
    try:
        async with db.transaction() as session:
            user = User(username=username, first_name=username.title(), role=role)
            session.add(user)
            await session.flush()
            assert user.id is not None
            issued = await tokens.issue(session, user.id, "api")
        return Account(user.id, username, issued.token)
    finally:
        await db.dispose()


@contextmanager
def platform_server(
    target: SqlTarget, data_dir: Path, redis_url: str, extra_env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    server = start_server(data_dir, redis_url, extra_env=target.server_env() | (extra_env or {}))
    try:
        yield server
    finally:
        server.stop()


async def wait_for(predicate_url: str, headers: dict[str, str], check: object, timeout: float = 15) -> httpx.Response:
    """GET `predicate_url` until `check(response)` is true; the last response."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            response = await http.get(predicate_url, headers=headers)
            if check(response):  # type: ignore[operator]
                return response
            if loop.time() > deadline:
                raise TimeoutError(f"{predicate_url}: still {response.status_code} {response.text[:300]}")
            await asyncio.sleep(0.1)
