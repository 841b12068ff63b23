"""Read side of the wallet: balances, a user's history page, withdrawals for admins, and the
public (JSON) forms of records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.types import iso
from persistence.wallet.models import USER_KINDS, LedgerEntry, LedgerTransaction, Topup, WalletAccount, Withdrawal


async def balances(session: AsyncSession, user_id: int) -> dict[str, int]:
    rows = (
        await session.exec(select(WalletAccount.kind, WalletAccount.balance).where(WalletAccount.user_id == user_id))
    ).all()
    found = {kind: int(balance or 0) for kind, balance in rows}
    return {kind: found.get(kind, 0) for kind in USER_KINDS}


async def history(
    session: AsyncSession, user_id: int, limit: int, before_id: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """The user's transactions, newest first: `amount` (gross, never negative), `changes` (the
    signed change of each of the user's balances), `balance` (all four balances right after),
    `tax`, `kind`, `ref`, `created_at`. Keyset paging on the transaction id."""
    accounts = dict(
        (await session.exec(select(WalletAccount.id, WalletAccount.kind).where(WalletAccount.user_id == user_id))).all()
    )
    if not accounts:
        return [], None
    ids_query = (
        select(LedgerEntry.transaction_id)
        .where(col(LedgerEntry.account_id).in_(list(accounts)))
        .group_by(col(LedgerEntry.transaction_id))
        .order_by(col(LedgerEntry.transaction_id).desc())
        .limit(limit)
    )
    if before_id is not None:
        ids_query = ids_query.where(col(LedgerEntry.transaction_id) < before_id)
    transaction_ids = list((await session.exec(ids_query)).all())
    if not transaction_ids:
        return [], None
    transactions = {
        t.id: t
        for t in (
            await session.exec(select(LedgerTransaction).where(col(LedgerTransaction.id).in_(transaction_ids)))
        ).all()
    }
    entries = (
        await session.exec(
            select(LedgerEntry).where(
                col(LedgerEntry.transaction_id).in_(transaction_ids), col(LedgerEntry.account_id).in_(list(accounts))
            )
        )
    ).all()
    changes: dict[int, dict[str, int]] = {tid: {} for tid in transaction_ids}
    for entry in entries:
        kind = accounts[entry.account_id]
        changes[entry.transaction_id][kind] = changes[entry.transaction_id].get(kind, 0) + entry.amount
    # Balances after the newest listed transaction: now, minus whatever came after it.
    later = dict(
        (
            await session.exec(
                select(WalletAccount.kind, func.sum(LedgerEntry.amount))
                .join(WalletAccount, col(WalletAccount.id) == col(LedgerEntry.account_id))
                .where(
                    col(LedgerEntry.account_id).in_(list(accounts)),
                    col(LedgerEntry.transaction_id) > transaction_ids[0],
                )
                .group_by(col(WalletAccount.kind))
            )
        ).all()
    )
    current = await balances(session, user_id)
    running = {kind: current[kind] - int(later.get(kind) or 0) for kind in USER_KINDS}
    items = []
    for tid in transaction_ids:
        transaction = transactions[tid]
        items.append(
            {
                "id": tid,
                "kind": transaction.kind,
                "amount": transaction.amount,
                "tax": transaction.tax,
                "changes": changes[tid],
                "balance": dict(running),
                "ref": transaction.ref,
                "memo": transaction.memo,
                "created_at": iso(transaction.created_at),
            }
        )
        for kind, delta in changes[tid].items():
            running[kind] -= delta
    next_cursor = transaction_ids[-1] if len(transaction_ids) == limit else None
    return items, next_cursor


def topup_public(topup: Topup) -> dict[str, Any]:
    return {
        "id": topup.id,
        "status": topup.status,
        "amount": topup.amount,
        "attempts": topup.attempts,
        "created_at": iso(topup.created_at),
        "expires_at": iso(topup.expires_at),
        "transaction_id": topup.transaction_id,
    }


def withdrawal_public(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "id": withdrawal.id,
        "user_id": withdrawal.user_id,
        "status": withdrawal.status,
        "amount": withdrawal.amount,
        "tax": withdrawal.tax,
        "payout": withdrawal.amount - withdrawal.tax,
        "card": withdrawal.card_mask,
        "created_at": iso(withdrawal.created_at),
        "decided_at": iso(withdrawal.decided_at),
    }


async def withdrawals(
    session: AsyncSession, *, status: str | None, user_id: int | None, limit: int, before_id: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    query = select(Withdrawal).order_by(col(Withdrawal.id).desc()).limit(limit)
    if status is not None:
        query = query.where(Withdrawal.status == status)
    if user_id is not None:
        query = query.where(Withdrawal.user_id == user_id)
    if before_id is not None:
        query = query.where(col(Withdrawal.id) < before_id)
    rows = list((await session.exec(query)).all())
    next_cursor = rows[-1].id if len(rows) == limit else None
    return [withdrawal_public(row) for row in rows], next_cursor
