"""`livequiz wallet check` run as the operator would, with the server's settings: exit 0 and a
summary on a sound ledger, exit 1 naming the broken rule when an entry was forged."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy import insert
from sqlmodel import col, select

from persistence.db import Database
from persistence.wallet import service
from persistence.wallet.models import LedgerEntry, LedgerTransaction, WalletAccount
from tests.persistence.wallet_support import CONFIG, make_user
from tests.sql_support import SqlTarget


def _cli(target: SqlTarget, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"LIVEQUIZ_DATABASE_URL": target.url, "LIVEQUIZ_DATABASE_SCHEMA": target.schema or ""}
    return subprocess.run(
        [sys.executable, "-m", "gameserver.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_wallet_check_passes_a_sound_ledger_and_fails_a_forged_one(
    database: Database, sql_target: SqlTarget
) -> None:
    user = await make_user(database, "u")
    async with database.transaction() as session:
        await service.grant_welcome_bonus(session, user, CONFIG)
    sound = await asyncio.to_thread(_cli, sql_target, "wallet", "check")
    assert sound.returncode == 0, sound.stdout + sound.stderr
    assert "wallet ok: 1 transactions, 2 entries" in sound.stdout
    async with database.transaction() as session:
        account = (await session.exec(select(WalletAccount).where(WalletAccount.key == f"u{user}:bonus"))).one()
        forged = (
            await session.exec(
                insert(LedgerTransaction)
                .values(kind="forged", amount=1, created_at=account.created_at)
                .returning(col(LedgerTransaction.id))
            )
        ).scalar_one()
        await session.exec(
            insert(LedgerEntry).values(
                transaction_id=forged, account_id=account.id, amount=1, balance_after=CONFIG.welcome_bonus + 1
            )
        )
    broken = await asyncio.to_thread(_cli, sql_target, "wallet", "check")
    assert broken.returncode == 1
    assert "wallet BROKEN" in broken.stdout and "transaction_unbalanced" in broken.stdout
    purged = await asyncio.to_thread(_cli, sql_target, "wallet", "purge-keys")
    assert purged.returncode == 0 and "0 idempotency keys" in purged.stdout
