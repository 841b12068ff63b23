"""Tables of the accounts area: users, their tokens and sessions, Telegram link codes, and
the audit log (seed 002: who did what and when; append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from persistence.types import UTCDateTime, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    # Personal fields are NULL once the account is deleted (000 §8): the row stays so that
    # results and ledger entries keep pointing at "deleted user".
    username: str | None = Field(default=None, max_length=32, unique=True)
    password_hash: str | None = Field(default=None, max_length=255)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254, unique=True)
    phone: str | None = Field(default=None, max_length=20, unique=True)
    telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True, nullable=True))
    # The OpenID Connect subject of a "Sign in with Google" account (stable, never reassigned).
    google_sub: str | None = Field(default=None, max_length=255, unique=True)
    role: str = Field(default="user", max_length=16)
    referred_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthToken(SQLModel, table=True):
    """An API token (`kind="api"`, 30 days) or a browser session (`kind="session"`, 12 hours,
    with its CSRF token). Only SHA-256 digests are stored."""

    __tablename__ = "auth_tokens"
    __table_args__ = (Index("ix_auth_tokens_user", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=16)
    csrf_digest: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TelegramLinkCode(SQLModel, table=True):
    """A one-time code the user sends to the bot as `/link CODE` (10 minutes)."""

    __tablename__ = "telegram_link_codes"

    digest: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who did what, when. Written in the same transaction as the action; never updated."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor", "actor_id"),
        Index("ix_audit_log_target", "target_user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    action: str = Field(max_length=64)
    target_user_id: int | None = Field(default=None, foreign_key="users.id")
    ip: str | None = Field(default=None, max_length=64)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
