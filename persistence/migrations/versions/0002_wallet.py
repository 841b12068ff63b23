"""The wallet: accounts, balanced transactions, entries, top-ups, withdrawals, idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from persistence.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(40), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("balance", sa.BigInteger),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        # The last guard: whatever the code does, the database refuses a user balance below zero.
        sa.CheckConstraint("user_id IS NULL OR (balance IS NOT NULL AND balance >= 0)", name="ck_wallet_user_balance"),
    )
    op.create_index("ix_wallet_accounts_user_id", "wallet_accounts", ["user_id"])
    op.create_table(
        "wallet_transactions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("tax", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("ref", sa.String(64)),
        sa.Column("once_key", sa.String(80), unique=True),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("memo", sa.String(200)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount >= 0 AND tax >= 0", name="ck_wallet_transaction_amounts"),
    )
    op.create_table(
        "wallet_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("transaction_id", sa.Integer, sa.ForeignKey("wallet_transactions.id"), nullable=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("wallet_accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger),
        sa.CheckConstraint("amount <> 0", name="ck_wallet_entry_nonzero"),
    )
    op.create_index("ix_wallet_entries_account", "wallet_entries", ["account_id", "transaction_id"])
    op.create_index("ix_wallet_entries_transaction", "wallet_entries", ["transaction_id"])
    op.create_table(
        "wallet_topups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_ref", sa.String(128), nullable=False),
        sa.Column("otp_digest", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("transaction_id", sa.Integer, sa.ForeignKey("wallet_transactions.id"), unique=True),
    )
    op.create_index("ix_wallet_topups_user", "wallet_topups", ["user_id", "id"])
    op.create_table(
        "wallet_withdrawals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("tax", sa.BigInteger, nullable=False),
        sa.Column("card_mask", sa.String(32), nullable=False),
        sa.Column("card_token", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("payout_ref", sa.String(128)),
        sa.Column(
            "hold_transaction_id", sa.Integer, sa.ForeignKey("wallet_transactions.id"), nullable=False, unique=True
        ),
        sa.Column("decision_transaction_id", sa.Integer, sa.ForeignKey("wallet_transactions.id"), unique=True),
    )
    op.create_index("ix_wallet_withdrawals_status", "wallet_withdrawals", ["status", "id"])
    op.create_index("ix_wallet_withdrawals_user", "wallet_withdrawals", ["user_id", "id"])
    op.create_table(
        "wallet_idempotency_keys",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_wallet_idempotency_created", "wallet_idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("wallet_idempotency_keys")
    op.drop_table("wallet_withdrawals")
    op.drop_table("wallet_topups")
    op.drop_table("wallet_entries")
    op.drop_table("wallet_transactions")
    op.drop_table("wallet_accounts")
