"""Accounts signed in through an outside identity provider ("Sign in with Google", OpenID
Connect). The provider has already proved who the person is; here they are found by the
provider's stable subject id, or given a new account.

An existing account is never taken over by email: this platform does not verify the email
addresses people type, so anyone could have registered someone else's address first, and
linking by it would hand the real owner's Google sign-ins to that stranger's account. A
verified email from the provider is put on the new account only if no account holds it.
The new account has no password (`password_hash` NULL): a reset can give it one (000 §8).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import audit, hooks, tokens
from persistence.accounts.models import User
from persistence.accounts.tokens import IssuedToken
from persistence.accounts.validation import EMAIL, NAME_MAX
from persistence.db import Database

NOT_USERNAME = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class Identity:
    """What the provider vouches for (the ID token's claims)."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: IssuedToken
    created: bool


def _clip(value: str | None) -> str | None:
    value = (value or "").strip()
    return "".join(ch for ch in value if ord(ch) >= 32 and ord(ch) != 127)[:NAME_MAX] or None


async def _free_username(session: AsyncSession, identity: Identity) -> str:
    base = NOT_USERNAME.sub("_", (identity.email or "").partition("@")[0].lower()).strip("_")[:24]
    if len(base) < 3:
        base = "user"
    candidate = base
    while (await session.exec(select(User.id).where(col(User.username) == candidate))).first() is not None:
        candidate = f"{base}_{secrets.randbelow(10**6):06d}"
    return candidate


async def sign_in(db: Database, identity: Identity, *, ip: str | None = None) -> SignedIn:
    """The account of `identity` (made on first sign-in) and a new browser session for it."""
    try:
        return await _sign_in(db, identity, ip)
    except IntegrityError:
        # Two first sign-ins of one person raced and the other made the account (or took the
        # username): this attempt now finds it.
        return await _sign_in(db, identity, ip)


async def _sign_in(db: Database, identity: Identity, ip: str | None) -> SignedIn:
    async with db.transaction() as session:
        user = (await session.exec(
            select(User).where(col(User.google_sub) == identity.subject, col(User.deleted_at).is_(None))
        )).first()
        created = user is None
        if user is None:
            email = (identity.email or "").strip().lower() or None
            if email and (not identity.email_verified or not EMAIL.match(email) or (await session.exec(
                select(User.id).where(col(User.email) == email)
            )).first() is not None):
                email = None
            user = User(
                username=await _free_username(session, identity), google_sub=identity.subject, email=email,
                first_name=_clip(identity.given_name) or _clip(identity.name) or "Google user",
                last_name=_clip(identity.family_name),
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            await hooks.run_registered(session, user.id, None)
            await audit.record(session, audit.REGISTER, actor_id=user.id, target_user_id=user.id, ip=ip,
                               details={"via": "google"})
        assert user.id is not None
        await audit.record(session, audit.LOGIN, actor_id=user.id, target_user_id=user.id, ip=ip,
                           details={"via": "google"})
        issued = await tokens.issue(session, user.id, "session")
    return SignedIn(user, issued, created)
