"""Helpers of the wallet tests: users made directly, movements in their own transactions, and
the invariant check every wallet test ends with."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from persistence.accounts.models import User
from persistence.db import Database
from persistence.wallet import invariants, queries
from persistence.wallet.money import WalletConfig
from persistence.wallet.providers import SandboxProvider

CONFIG = WalletConfig()
PROVIDER = SandboxProvider()
#: A card number that passes the Luhn check (a well-known test number).
CARD = "4111111111111111"


async def make_user(db: Database, name: str, role: str = "user") -> int:
    async with db.transaction() as session:
        user = User(username=name, first_name=name.title(), role=role)
        session.add(user)
        await session.flush()
        assert user.id is not None
        return user.id


async def balances(db: Database, user_id: int) -> dict[str, int]:
    async with db.session() as session:
        return await queries.balances(session, user_id)


async def assert_invariants(db: Database) -> invariants.Report:
    async with db.session() as session:
        report = await invariants.check(session)
    assert report.ok, report.describe()
    return report


@pytest.fixture
async def wallet_db(database: Database) -> AsyncIterator[Database]:
    """The migrated database; every invariant is checked after the test."""
    yield database
    await assert_invariants(database)
