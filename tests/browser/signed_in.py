"""Accounts for browser tests: a user with a browser session (cookie + CSRF) and an API token,
made straight in the test's database, and `run` to await that beside Playwright's sync API."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

from persistence.accounts import tokens
from persistence.accounts.models import User
from persistence.db import Database
from tests.sql_support import SqlTarget

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine beside Playwright's sync API (its loop owns this thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def user_with_session(target: SqlTarget, username: str, first_name: str | None = None) -> dict[str, Any]:
    """`{id, session, csrf, token}` of a new user named `username`."""
    db = Database(target.url, schema=target.schema)
    try:
        async with db.transaction() as session:
            user = User(username=username, first_name=first_name or username.title())
            session.add(user)
            await session.flush()
            assert user.id is not None
            browser = await tokens.issue(session, user.id, "session")
            api = await tokens.issue(session, user.id, "api")
        return {"id": user.id, "session": browser.token, "csrf": browser.csrf, "token": api.token}
    finally:
        await db.dispose()
