"""Test support for the accounts API: a server process per SQL backend, and HTTP clients that
each come from an address of their own in 127.0.0.0/8 (the per-address limits — auth 5 a
minute, anonymous 30 — are then one test's alone, and tests of the limits choose theirs)."""

from __future__ import annotations

import itertools
import os
from typing import Any

import httpx

from tests.platform_support import platform_server
from tests.sql_support import sql_targets
from tests.support import ServerProcess

_addresses = itertools.count(1)


def fresh_address() -> str:
    """An unused loopback source address (Linux routes all of 127.0.0.0/8 to lo)."""
    n = next(_addresses) + (os.getpid() % 200) * 1000
    return f"127.{100 + n // 62500 % 150}.{n // 250 % 250}.{n % 250 + 1}"


def client(server: ServerProcess, address: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address or fresh_address())
    return httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=30, **kwargs)


#: A `livequiz serve` on the target's database (one helper for every platform test).
accounts_server = platform_server


def backends() -> list[Any]:
    return sql_targets()


def new_user(name: str, **extra: Any) -> dict[str, Any]:
    return {"username": name, "password": "password 12", "first_name": name.title(), **extra}


async def register(server: ServerProcess, name: str, **extra: Any) -> dict[str, Any]:
    async with client(server) as http:
        response = await http.post("/api/auth/register", json=new_user(name, **extra))
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

