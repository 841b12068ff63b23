"""Accounts for browser tests: a user with a browser session (cookie + CSRF) and an API token,
made straight in the test's database, `run` to await that beside Playwright's sync API, and
`SignedInSite` to open pages as such a user (no sign-up page, no password hashing: tests of
other pages need only the session that sign-in leaves behind)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx

from persistence.accounts import tokens
from persistence.accounts.models import User
from persistence.db import Database
from tests.browser.support import Pages
from tests.premigrated_sqlite import DATABASE_FILE
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

T = TypeVar("T")


def server_database(data_dir: Path) -> SqlTarget:
    """The SQLite database a server started on `data_dir` with no database URL keeps there."""
    return SqlTarget("sqlite", url=f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine beside Playwright's sync API (its loop owns this thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def user_with_session(
    target: SqlTarget, username: str, first_name: str | None = None, role: str = "user",
) -> dict[str, Any]:
    """`{id, username, session, csrf, token}` of a new user named `username`."""
    db = Database(target.url, schema=target.schema)
    try:
        async with db.transaction() as session:
            user = User(username=username, first_name=first_name or username.title(), role=role)
            session.add(user)
            await session.flush()
            assert user.id is not None
            browser = await tokens.issue(session, user.id, "session")
            api = await tokens.issue(session, user.id, "api")
        return {"id": user.id, "username": username, "session": browser.token, "csrf": browser.csrf,
                "token": api.token}
    finally:
        await db.dispose()


def register_and_sign_in(page: Any, base_url: str, username: str, first_name: str) -> dict[str, Any]:
    """Register `username` through the accounts API (its hooks run, as for the sign-up page)
    and sign `page`'s browser in: the session cookie, and the CSRF token the sign-in page keeps
    in localStorage for the pages loaded next. The login's answer (`user`, `csrf`, ...)."""
    registered = page.request.post(f"{base_url}/api/auth/register",
                                   data={"username": username, "password": PASSWORD, "first_name": first_name})
    assert registered.status == 201, registered.text()
    signed_in = page.request.post(f"{base_url}/api/auth/login", data={"login": username, "password": PASSWORD})
    assert signed_in.status == 200, signed_in.text()
    answer: dict[str, Any] = signed_in.json()
    page.context.add_init_script(f"localStorage.setItem('lq_csrf', {json.dumps(answer['csrf'])});")
    return answer


PASSWORD = "password 12"

#: A laptop's screen, for pages whose layout the test does not check: Chromium renders and
#: screenshots by the pixel, and a projector's 1920×1080 (the default) costs about twice this.
DESKTOP_VIEWPORT = {"width": 1280, "height": 720}


class SignedInSite:
    """Pages of one server whose database the test can write users into."""

    def __init__(self, browser: Any, server: ServerProcess, target: SqlTarget, prefix: str = "user") -> None:
        self.pages = Pages(browser, server.base_url)
        self.server = server
        self.target = target
        self.prefix = prefix

    def user(self) -> dict[str, Any]:
        return run(user_with_session(self.target, f"{self.prefix}_{secrets.token_hex(5)}"))

    def api(self, method: str, path: str, user: dict[str, Any], body: Any = None) -> httpx.Response:
        """The API with `user`'s token (no browser involved)."""
        return httpx.request(method, self.server.base_url + path, json=body,
                             headers={"Authorization": f"Bearer {user['token']}"}, timeout=10)

    def open(self, path: str, name: str, **ctx: Any) -> Any:
        """`path` in a new browser context, signed out, at `DESKTOP_VIEWPORT` unless told."""
        return self.pages.open(path, name=name, **({"viewport": DESKTOP_VIEWPORT} | ctx))

    def open_as(self, path: str, user: dict[str, Any], name: str, init_script: str = "", **ctx: Any) -> Any:
        """`path` in a new browser context signed in as `user`: its session cookie, and the CSRF
        token the sign-in page would have kept in localStorage."""
        page = self.open("/favicon.ico", name=name, **ctx)
        page.context.add_cookies([{"name": "lq_session", "value": user["session"], "url": self.server.base_url}])
        page.context.add_init_script(f"localStorage.setItem('lq_csrf', {json.dumps(user['csrf'])});\n{init_script}")
        page.goto(self.server.base_url + path)
        return page

    def open_signed_in(self, path: str, user: dict[str, Any], name: str, init_script: str = "") -> Any:
        """A page that says when it is ready (`body[data-ready=true]`), opened as `user`."""
        page = self.open_as(path, user, name, init_script)
        page.wait_for_selector("body[data-ready='true']")
        return page
