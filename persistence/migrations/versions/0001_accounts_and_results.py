"""Accounts (users, tokens, Telegram link codes, audit log) and group results.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from persistence.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(32), unique=True),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("email", sa.String(254), unique=True),
        sa.Column("phone", sa.String(20), unique=True),
        sa.Column("telegram_id", sa.BigInteger, unique=True),
        sa.Column("google_sub", sa.String(255), unique=True),
        sa.Column("role", sa.String(16), nullable=False, server_default="user"),
        sa.Column("referred_by", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime()),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("csrf_digest", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_index("ix_auth_tokens_user", "auth_tokens", ["user_id"])
    op.create_table(
        "telegram_link_codes",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime()),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("ip", sa.String(64)),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_target", "audit_log", ["target_user_id"])
    _make_audit_log_append_only()
    op.create_table(
        "game_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("game_key", sa.String(64), nullable=False, unique=True),
        sa.Column("pin", sa.String(6), nullable=False),
        sa.Column("exam_id", sa.Integer),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("host_user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("host_digest", sa.String(64), nullable=False),
        sa.Column("question_count", sa.Integer, nullable=False),
        sa.Column("player_count", sa.Integer, nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_game_results_host", "game_results", ["host_user_id", "finished_at"])
    op.create_index("ix_game_results_pin", "game_results", ["pin", "finished_at"])
    op.create_table(
        "player_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("game_id", sa.Integer, sa.ForeignKey("game_results.id"), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("answers", sa.Integer, nullable=False),
        sa.Column("correct", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
    )
    op.create_index("ix_player_results_game", "player_results", ["game_id", "rank"])
    op.create_index("ix_player_results_user", "player_results", ["user_id"])


# The audit log is append-only (seed 002: nobody edits it): the database refuses UPDATE and
# DELETE on it, whatever code or hand-written query asks.
APPEND_ONLY_MESSAGE = "audit_log is append-only"


def _make_audit_log_append_only() -> None:
    if op.get_context().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_log_refuse_edit() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_edit BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_edit()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_edit()"
    )


def downgrade() -> None:
    op.drop_table("player_results")
    op.drop_table("game_results")
    op.drop_table("audit_log")
    if op.get_context().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_edit()")
    op.drop_table("telegram_link_codes")
    op.drop_table("auth_tokens")
    op.drop_table("users")
