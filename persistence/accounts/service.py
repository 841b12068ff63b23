"""Accounts: register, log in and out, read and edit the profile, change the password.

Every function takes the `Database` and does its work in one transaction with its audit entry.
Uniqueness (username, email, phone) is checked first for a clear `409 *_taken`, and again by
the unique indexes: two registrations racing for one name both pass the check, one insert wins
and the other's IntegrityError is turned into the same 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import audit, hooks, tokens
from persistence.accounts.errors import AccountError, bad_credentials
from persistence.accounts.models import User
from persistence.accounts.passwords import hash_password, needs_rehash, verify_password
from persistence.accounts.tokens import IssuedToken, Principal
from persistence.accounts.validation import Problems, check_new_password, clean_profile, normalize_login
from persistence.db import Database
from persistence.types import iso

UNIQUE_FIELDS = ("username", "email", "phone")


def profile(user: User) -> dict[str, Any]:
    """`GET /api/me`: the fields of PLATFORM.md, nothing secret."""
    return {
        "id": user.id, "username": user.username, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email, "phone": user.phone, "telegram_id": user.telegram_id, "role": user.role,
        "created_at": iso(user.created_at),
    }


async def _taken(
    session: AsyncSession, values: dict[str, str | None], except_id: int | None = None
) -> AccountError | None:
    for name in UNIQUE_FIELDS:
        value = values.get(name)
        if value is None:
            continue
        query = select(User.id).where(col(getattr(User, name)) == value)
        if except_id is not None:
            query = query.where(col(User.id) != except_id)
        if (await session.exec(query)).first() is not None:
            return AccountError(f"{name}_taken", f"that {name} belongs to another account")
    return None


async def _raise_if_taken(db: Database, values: dict[str, str | None], except_id: int | None = None) -> None:
    async with db.session() as session:
        error = await _taken(session, values, except_id)
    if error is not None:
        raise error


def _invalid(problems: Problems) -> AccountError:
    return AccountError("invalid", "some fields are not valid", problems.items)


@dataclass(frozen=True)
class Registered:
    user: User
    token: IssuedToken


async def register(db: Database, data: dict[str, Any], *, ip: str | None = None) -> Registered:
    problems = Problems()
    fields = clean_profile(data, problems, partial=False)
    password = check_new_password(data.get("password"), "password", problems)
    referral = data.get("referral")
    if referral is not None and (not isinstance(referral, str) or not referral.strip()):
        problems.add("referral", "must be a username", "string_type")
    if problems:
        raise _invalid(problems)
    assert password is not None
    await _raise_if_taken(db, fields)
    password_hash = await hash_password(password)
    try:
        async with db.transaction() as session:
            referrer_id = None
            if isinstance(referral, str):
                referrer_id = (await session.exec(
                    select(User.id).where(col(User.username) == referral.strip().lower())
                )).first()
                if referrer_id is None:
                    problems.add("referral", "no user has that username")
                    raise _invalid(problems)
            user = User(password_hash=password_hash, referred_by=referrer_id)
            for name, value in fields.items():
                setattr(user, name, value)
            session.add(user)
            await session.flush()
            assert user.id is not None
            await hooks.run_registered(session, user.id, referrer_id)
            await audit.record(session, audit.REGISTER, actor_id=user.id, target_user_id=user.id, ip=ip,
                               details={"referred_by": referrer_id})
            issued = await tokens.issue(session, user.id, "api")
    except IntegrityError:
        await _raise_if_taken(db, fields)  # the race's winner now shows: the same 409 as the check
        raise
    return Registered(user, issued)


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """The live account a login names: its username, email or phone, in that order."""
    username, email, phone = normalize_login(login)
    matches = [col(User.username) == username, col(User.email) == email]
    if phone is not None:
        matches.append(col(User.phone) == phone)
    users = (await session.exec(select(User).where(or_(*matches), col(User.deleted_at).is_(None)))).all()
    for key, value in (("username", username), ("email", email), ("phone", phone)):
        for user in users:
            if value is not None and getattr(user, key) == value:
                return user
    return None


@dataclass(frozen=True)
class LoggedIn:
    user: User
    api_token: IssuedToken
    session: IssuedToken


async def login(db: Database, login_name: object, password: object, *, ip: str | None = None) -> LoggedIn:
    """Check the credentials; on success an API token (30 days) and a browser session (12 h).
    An unknown login and a wrong password answer alike, in about the same time (a dummy hash
    is checked for an unknown login)."""
    if not isinstance(login_name, str) or not isinstance(password, str) or len(login_name) > 254:
        raise bad_credentials()
    async with db.session() as session:
        user = await find_by_login(session, login_name)
    stored = user.password_hash if user is not None else None
    ok = await verify_password(stored, password)
    async with db.transaction() as session:
        if user is None or not ok:
            await audit.record(session, audit.LOGIN_FAILED, target_user_id=user.id if user else None, ip=ip)
        else:
            assert user.id is not None and stored is not None
            if needs_rehash(stored):
                fresh = await session.get(User, user.id)
                if fresh is not None:
                    fresh.password_hash = await hash_password(password)
            await audit.record(session, audit.LOGIN, actor_id=user.id, target_user_id=user.id, ip=ip)
            api_token = await tokens.issue(session, user.id, "api")
            browser = await tokens.issue(session, user.id, "session")
    if user is None or not ok:
        raise bad_credentials()
    return LoggedIn(user, api_token, browser)


async def logout(db: Database, principal: Principal, *, ip: str | None = None) -> None:
    async with db.transaction() as session:
        await tokens.revoke(session, principal.token_id)
        await audit.record(session, audit.LOGOUT, actor_id=principal.user_id, target_user_id=principal.user_id,
                           ip=ip, details={"kind": principal.kind})


async def update_profile(db: Database, principal: Principal, data: dict[str, Any], *, ip: str | None = None) -> User:
    problems = Problems()
    fields = clean_profile(data, problems, partial=True)
    unknown = sorted(set(data) - set(fields) - {"username", "first_name", "last_name", "email", "phone"})
    for name in unknown:
        problems.add(name, "cannot be changed here", "extra_forbidden")
    if problems:
        raise _invalid(problems)
    await _raise_if_taken(db, fields, except_id=principal.user_id)
    try:
        async with db.transaction() as session:
            user = await session.get(User, principal.user_id)
            if user is None or user.deleted_at is not None:
                raise AccountError("not_found", "the account no longer exists")
            changed = sorted(name for name, value in fields.items() if getattr(user, name) != value)
            for name in changed:
                setattr(user, name, fields[name])
            if changed:
                # Field names only: the log outlives the account and must hold no personal data.
                await audit.record(session, audit.PROFILE_UPDATE, actor_id=user.id, target_user_id=user.id, ip=ip,
                                   details={"fields": changed})
    except IntegrityError:
        await _raise_if_taken(db, fields, except_id=principal.user_id)
        raise
    return user


async def change_password(db: Database, principal: Principal, data: dict[str, Any], *, ip: str | None = None) -> None:
    """`POST /api/me/password`: the old password proves it is the owner; every other token and
    session of the user ends (the one asking stays signed in)."""
    problems = Problems()
    new = check_new_password(data.get("new"), "new", problems)
    if problems:
        raise _invalid(problems)
    assert new is not None
    if not await verify_password(principal.user.password_hash, str(data.get("old") or "")):
        raise AccountError("wrong_password", "the old password is wrong")
    new_hash = await hash_password(new)
    async with db.transaction() as session:
        user = await session.get(User, principal.user_id)
        if user is None:
            raise AccountError("not_found", "the account no longer exists")
        user.password_hash = new_hash
        await tokens.revoke_all(session, principal.user_id, except_token_id=principal.token_id)
        await audit.record(session, audit.PASSWORD_CHANGE, actor_id=principal.user_id,
                           target_user_id=principal.user_id, ip=ip)
