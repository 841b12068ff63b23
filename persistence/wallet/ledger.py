"""The double-entry core: find or open accounts, lock the user accounts a movement touches,
and post one balanced transaction.

Concurrency (docs/platform.md "Wallet"): row locks, not serializable transactions with
retries. On PostgreSQL the user accounts a movement touches are locked with
`SELECT … FOR UPDATE` in ascending id order (one order for everyone: no deadlocks), at READ
COMMITTED; what is read after the lock cannot change until commit. SQLite has one writer at a
time: the movement's first statement is a write (a no-op UPDATE of those accounts), so it waits
for the write lock (busy timeout) and everything it reads afterwards is current. System
accounts are never locked or updated (their balance is the sum of their entries), so no single
hot row queues every top-up or tax.

Every posting is checked here again, whatever the caller did: legs sum to zero, no zero legs,
no user balance below zero (and the database's CHECK refuses one as a last guard).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import BigInteger, case, insert, literal, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts.models import User
from persistence.types import utcnow
from persistence.wallet.errors import WalletError, insufficient_funds
from persistence.wallet.models import USER_KINDS, LedgerEntry, LedgerTransaction, WalletAccount

#: Tests set this to act between the statements of a posting (the crash test kills the
#: process there); None in production.
statement_hook: Callable[[str], None] | None = None


def _step(label: str) -> None:
    if statement_hook is not None:
        statement_hook(label)


def user_key(user_id: int, kind: str) -> str:
    return f"u{user_id}:{kind}"


def system_key(kind: str) -> str:
    return f"sys:{kind}"


def _parse(key: str) -> tuple[int | None, str]:
    owner, _, kind = key.partition(":")
    return (None if owner == "sys" else int(owner[1:])), kind


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def account_ids(session: AsyncSession, keys: Sequence[str], *, open_missing: bool = True) -> dict[str, int]:
    """The ids of these accounts, opening the missing ones (concurrent openers agree: ON
    CONFLICT DO NOTHING, then read). With `open_missing` false, missing user accounts are left
    out (they hold nothing): an account deletion opens none, since a new account's foreign key
    would wait on the user row the deletion has locked."""
    wanted = sorted(set(keys))
    found = dict(
        (
            await session.exec(select(WalletAccount.key, WalletAccount.id).where(col(WalletAccount.key).in_(wanted)))
        ).all()
    )
    missing = [key for key in wanted if key not in found and (open_missing or key.startswith("sys:"))]
    if missing:
        rows = []
        for key in missing:
            user_id, kind = _parse(key)
            rows.append({"key": key, "user_id": user_id, "kind": kind, "balance": 0 if user_id is not None else None})
        dialect_insert = sqlite_insert if _is_sqlite(session) else pg_insert
        await session.exec(dialect_insert(WalletAccount).values(rows).on_conflict_do_nothing(index_elements=["key"]))
        found.update(
            (
                await session.exec(
                    select(WalletAccount.key, WalletAccount.id).where(col(WalletAccount.key).in_(missing))
                )
            ).all()
        )
    return {key: int(found[key]) for key in keys if key in found}  # type: ignore[arg-type]


def user_keys(user_id: int) -> list[str]:
    return [user_key(user_id, kind) for kind in USER_KINDS]


@dataclass
class Locked:
    """Accounts a movement holds: ids by key, and the current balance of each user account."""

    ids: dict[str, int]
    balances: dict[str, int] = field(default_factory=dict)

    def balance(self, key: str) -> int:
        return self.balances[key]


async def lock(
    session: AsyncSession, keys: Sequence[str], *, allow_deleted: bool = False, open_missing: bool = True
) -> Locked:
    """Open and lock the accounts of `keys` (user accounts are locked and their balances read;
    system accounts only resolved). A deleted user's accounts are refused (`409 user_deleted`)
    unless `allow_deleted`: read under the lock, so a movement that waited for an account
    deletion to commit never puts money back on the forfeited accounts."""
    ids = await account_ids(session, keys, open_missing=open_missing)
    user_ids = sorted(ids[key] for key in ids if not key.startswith("sys:"))
    locked = Locked(ids)
    if not user_ids:
        return locked
    # Core statements on the session's connection: the ORM adds nothing to these and costs
    # a third of a movement's time on PostgreSQL.
    connection = await session.connection()
    if _is_sqlite(session):
        # Take SQLite's write lock before reading anything we will decide on.
        await connection.execute(
            update(WalletAccount).where(col(WalletAccount.id).in_(user_ids)).values(balance=WalletAccount.balance)
        )
    # The owners' user rows first, FOR KEY SHARE: an account deletion locks its user row before
    # its accounts, so taking them in the same order never deadlocks; a deletion in flight
    # makes this wait for its commit, and the row then read is the deleted one (a locked row
    # is read at its newest version), so no movement puts money back on forfeited accounts.
    owners = sorted({owner for owner, _ in map(_parse, ids) if owner is not None})
    people = (
        await connection.execute(
            select(User.id, User.deleted_at)
            .where(col(User.id).in_(owners))
            .order_by(col(User.id))
            .with_for_update(read=True, key_share=True)
        )
    ).all()
    if not allow_deleted and any(deleted_at is not None for _, deleted_at in people):
        raise WalletError(409, "user_deleted", "this account has been deleted")
    rows = (
        await connection.execute(
            select(WalletAccount.key, WalletAccount.balance)
            .where(col(WalletAccount.id).in_(user_ids))
            .order_by(col(WalletAccount.id))
            .with_for_update()
        )
    ).all()
    locked.balances = {key: int(balance or 0) for key, balance in rows}
    _step("locked")
    return locked


async def once_done(session: AsyncSession, once_key: str) -> bool:
    """Whether the once-only movement `once_key` happened (read under the lock of its accounts)."""
    found = (await session.exec(select(LedgerTransaction.id).where(LedgerTransaction.once_key == once_key))).first()
    return found is not None


@dataclass(frozen=True)
class Posted:
    transaction_id: int
    balances: dict[str, int]  # user balances after, by key


async def post(
    session: AsyncSession,
    locked: Locked,
    legs: Sequence[tuple[str, int]],
    *,
    kind: str,
    amount: int,
    tax: int = 0,
    ref: str | None = None,
    once_key: str | None = None,
    actor_id: int | None = None,
    memo: str | None = None,
) -> Posted:
    """Write one balanced transaction over locked accounts; nothing is written if any check fails."""
    legs = [(key, delta) for key, delta in legs if delta != 0]
    if len(legs) < 2 or sum(delta for _, delta in legs) != 0:
        raise ValueError(f"unbalanced posting {legs!r}")
    if amount < 0 or tax < 0:
        raise ValueError("amount and tax are never negative")
    after = dict(locked.balances)
    for key, delta in legs:
        if key not in locked.ids:
            raise ValueError(f"account {key} was not locked for this posting")
        if key in after:
            after[key] += delta
            if after[key] < 0:
                raise insufficient_funds(-delta, after[key] - delta)
    connection = await session.connection()
    transaction_id = (
        await connection.execute(
            insert(LedgerTransaction)
            .values(
                kind=kind,
                amount=amount,
                tax=tax,
                ref=ref,
                once_key=once_key,
                actor_id=actor_id,
                memo=memo,
                created_at=utcnow(),
            )
            .returning(col(LedgerTransaction.id))
        )
    ).scalar_one()
    _step("transaction")
    running = dict(locked.balances)
    entries = []
    deltas: dict[int, int] = {}
    for key, delta in legs:
        if key in running:
            running[key] += delta
            deltas[locked.ids[key]] = deltas.get(locked.ids[key], 0) + delta
        entries.append(
            {
                "transaction_id": transaction_id,
                "account_id": locked.ids[key],
                "amount": delta,
                "balance_after": running.get(key),
            }
        )
    await connection.execute(insert(LedgerEntry), entries)
    _step("entries")
    if deltas:
        # One statement for every user balance of the movement; the WHERE refuses a balance
        # below zero even if a caller wrote without the lock (then fewer rows match: roll back).
        change = case(
            {account_id: literal(delta, BigInteger) for account_id, delta in deltas.items()},
            value=col(WalletAccount.id),
        )
        result = await connection.execute(
            update(WalletAccount)
            .where(col(WalletAccount.id).in_(list(deltas)), col(WalletAccount.balance) + change >= 0)
            .values(balance=col(WalletAccount.balance) + change)
        )
        if result.rowcount != len(deltas):
            raise WalletError(409, "conflict", "the balance changed under this movement; try again")
        _step("balances")
    locked.balances = after
    assert transaction_id is not None
    return Posted(transaction_id, {key: after[key] for key in after})
