"""Tables of the wallet: accounts, balanced transactions and their entries (append-only),
top-ups, withdrawals and idempotency keys.

Double entry: every movement is one `LedgerTransaction` whose `LedgerEntry` rows sum to zero.
Entries are never updated or deleted. A user account keeps its balance in `balance` (updated in
the same SQL transaction as its entries, guarded by a CHECK so it can never go below zero);
system accounts keep none (`balance` NULL, derived from entries by the invariant check) so that
no hot row serialises every top-up or tax behind one lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from persistence.types import UTCDateTime, utcnow

#: A user's balances (PLATFORM.md "Wallet"); `held` is main money reserved by pending withdrawals.
USER_KINDS = ("main", "bonus", "earnings", "held")
#: System accounts. gateway: money that came in by card (goes negative as users top up);
#: payouts: money sent out to cards; tax: tax revenue; issuance: bonuses the platform gave;
#: forfeited: balances of deleted accounts.
SYSTEM_KINDS = ("gateway", "payouts", "tax", "issuance", "forfeited")


class WalletAccount(SQLModel, table=True):
    __tablename__ = "wallet_accounts"

    id: int | None = Field(default=None, primary_key=True)
    # "u{user_id}:{kind}" or "sys:{kind}": one unique key works on both backends (a unique
    # (user_id, kind) would let several system rows in, NULLs never being equal).
    key: str = Field(max_length=40, unique=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    kind: str = Field(max_length=16)
    balance: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerTransaction(SQLModel, table=True):
    """One balanced movement. `once_key` (unique) names movements that may happen only once
    (a welcome bonus, a top-up's credit, a withdrawal's decision): the database refuses a second."""

    __tablename__ = "wallet_transactions"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))  # gross, never negative
    tax: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    ref: str | None = Field(default=None, max_length=64)  # "exam:7", "withdrawal:3", "topup:9"
    once_key: str | None = Field(default=None, max_length=80, unique=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    memo: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "wallet_entries"
    __table_args__ = (
        Index("ix_wallet_entries_account", "account_id", "transaction_id"),
        Index("ix_wallet_entries_transaction", "transaction_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="wallet_transactions.id")
    account_id: int = Field(foreign_key="wallet_accounts.id")
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))  # signed: + credit, − debit
    # The account's balance right after this entry (user accounts only).
    balance_after: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Topup(SQLModel, table=True):
    """A card top-up: created `otp_sent`, then `confirmed` (main credited once) or `expired`."""

    __tablename__ = "wallet_topups"
    __table_args__ = (Index("ix_wallet_topups_user", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    provider: str = Field(max_length=32)
    provider_ref: str = Field(max_length=128)
    otp_digest: str | None = Field(default=None, max_length=64)  # the sandbox's code, as a digest
    status: str = Field(default="otp_sent", max_length=16)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    transaction_id: int | None = Field(default=None, foreign_key="wallet_transactions.id")


class Withdrawal(SQLModel, table=True):
    """Main money to a card: held at once, then `approved` (paid out) or `rejected` (returned),
    or `cancelled` when the account is deleted. The card is kept as the provider's token and a
    mask, never its number (000 §5)."""

    __tablename__ = "wallet_withdrawals"
    __table_args__ = (
        Index("ix_wallet_withdrawals_status", "status", "id"),
        Index("ix_wallet_withdrawals_user", "user_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    tax: int = Field(sa_column=Column(BigInteger, nullable=False))
    card_mask: str = Field(max_length=32)
    card_token: str | None = Field(default=None, max_length=128)
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    payout_ref: str | None = Field(default=None, max_length=128)
    hold_transaction_id: int = Field(foreign_key="wallet_transactions.id")
    decision_transaction_id: int | None = Field(default=None, foreign_key="wallet_transactions.id")


class IdempotencyKey(SQLModel, table=True):
    """A money-moving request's key, stored in the same SQL transaction as what it did, so a
    retry sees either nothing (and runs) or the finished response (and replays it)."""

    __tablename__ = "wallet_idempotency_keys"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    fingerprint: str = Field(max_length=64)  # SHA-256 of method, path and canonical body
    status: int
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
