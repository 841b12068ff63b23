"""`livequiz wallet check`: verify every ledger invariant (persistence/wallet/invariants.py) on
the server's database (the same `LIVEQUIZ_*` settings); exit status 0 when all hold, 1 with the
offending rows otherwise. Read-only: safe beside running servers.

`livequiz wallet purge-keys`: forget idempotency keys older than 24 hours."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gameserver.settings import Settings
from persistence.db import open_database
from persistence.wallet import idempotency, invariants


async def _check() -> invariants.Report:
    settings = Settings()
    db = await open_database(
        settings.database_url, settings.data_dir, schema=settings.database_schema or None, migrate=False
    )
    try:
        async with db.session() as session:
            return await invariants.check(session)
    finally:
        await db.dispose()


def wallet_check(args: argparse.Namespace) -> int:
    report = asyncio.run(_check())
    print(report.describe())
    return 0 if report.ok else 1


async def _purge() -> int:
    settings = Settings()
    db = await open_database(
        settings.database_url, settings.data_dir, schema=settings.database_schema or None, migrate=False
    )
    try:
        async with db.transaction() as session:
            return await idempotency.purge(session)
    finally:
        await db.dispose()


def wallet_purge_keys(args: argparse.Namespace) -> int:
    print(f"{asyncio.run(_purge())} idempotency keys older than 24 h forgotten")
    return 0


def add_wallet_commands(commands: Any) -> None:
    """Register `wallet check` and `wallet purge-keys` on the `livequiz` sub-command parser."""
    p_wallet = commands.add_parser("wallet", help="the wallet's ledger (uses the server's settings)")
    wallet_commands = p_wallet.add_subparsers(dest="wallet_command", required=True)
    p_check = wallet_commands.add_parser("check", help="verify every ledger invariant (exit 1 if any fails)")
    p_check.set_defaults(func=wallet_check)
    p_purge = wallet_commands.add_parser("purge-keys", help="forget idempotency keys older than 24 hours")
    p_purge.set_defaults(func=wallet_purge_keys)
