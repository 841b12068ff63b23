"""API tokens and browser sessions: random, stored as SHA-256 digests, looked up by digest.

A token is 32 random bytes (256 bits) in URL-safe base64; only its digest is stored, so a
leaked database signs nobody in. Looking a token up by its digest is an index lookup on a
value the caller cannot steer byte by byte (a timing difference tells nothing about a valid
token's digest); the CSRF token of a session is compared with `secrets.compare_digest`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts.models import AuthToken, User
from persistence.types import utcnow

API_TOKEN_LIFETIME = timedelta(days=30)
SESSION_LIFETIME = timedelta(hours=12)
LIFETIMES = {"api": API_TOKEN_LIFETIME, "session": SESSION_LIFETIME}


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    csrf: str | None  # sessions only: the X-CSRF-Token a cookie request must carry


@dataclass(frozen=True)
class Principal:
    """Who a request is: the user and the credential it came with."""

    user: User
    token_id: int
    kind: str  # "api" or "session"
    csrf_digest: str | None

    @property
    def user_id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def csrf_ok(self, presented: str | None) -> bool:
        if self.csrf_digest is None:
            return True
        return presented is not None and secrets.compare_digest(digest(presented), self.csrf_digest)


async def issue(session: AsyncSession, user_id: int, kind: str) -> IssuedToken:
    token = new_secret()
    csrf = new_secret() if kind == "session" else None
    expires_at = utcnow() + LIFETIMES[kind]
    session.add(AuthToken(
        digest=digest(token), user_id=user_id, kind=kind, expires_at=expires_at,
        csrf_digest=digest(csrf) if csrf else None,
    ))
    await session.flush()
    return IssuedToken(token, expires_at, csrf)


async def resolve(session: AsyncSession, token: str) -> Principal | None:
    """The live principal of a token or session id, or None (unknown, expired, revoked, or the
    account deleted)."""
    if not token or len(token) > 128:
        return None
    row = (await session.exec(
        select(AuthToken, User).join(User, col(User.id) == col(AuthToken.user_id))
        .where(AuthToken.digest == digest(token))
    )).first()
    if row is None:
        return None
    auth, user = row
    if auth.revoked_at is not None or auth.expires_at <= utcnow() or user.deleted_at is not None:
        return None
    assert auth.id is not None
    return Principal(user=user, token_id=auth.id, kind=auth.kind, csrf_digest=auth.csrf_digest)


async def revoke(session: AsyncSession, token_id: int) -> None:
    await session.exec(
        update(AuthToken).where(col(AuthToken.id) == token_id, col(AuthToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_all(session: AsyncSession, user_id: int, *, except_token_id: int | None = None) -> None:
    """End every token and session of a user (password change, reset, deletion)."""
    statement = update(AuthToken).where(col(AuthToken.user_id) == user_id, col(AuthToken.revoked_at).is_(None))
    if except_token_id is not None:
        statement = statement.where(col(AuthToken.id) != except_token_id)
    await session.exec(statement.values(revoked_at=utcnow()))
