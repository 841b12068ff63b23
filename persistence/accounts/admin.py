"""Roles (`user`, `admin`) and the operator's commands: `livequiz admin create USERNAME` makes
the first admin, `livequiz admin grant USERNAME` promotes an existing user; admins change
roles over HTTP. Every change is in the audit log (actor NULL: the command line)."""

from __future__ import annotations

from sqlmodel import col, select

from persistence.accounts import audit
from persistence.accounts.errors import AccountError
from persistence.accounts.models import User
from persistence.accounts.passwords import hash_password, random_password
from persistence.accounts.validation import USERNAME
from persistence.db import Database

ROLES = ("user", "admin")


async def set_role(db: Database, user_id: int, role: str, *, actor_id: int | None, ip: str | None = None) -> User:
    if role not in ROLES:
        raise AccountError("invalid", "role must be user or admin",
                           [{"loc": ["body", "role"], "msg": "unknown role", "type": "enum"}])
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            raise AccountError("not_found", "no such user")
        if user.role != role:
            before = user.role
            user.role = role
            await audit.record(session, audit.ROLE_CHANGE, actor_id=actor_id, target_user_id=user_id, ip=ip,
                               details={"from": before, "to": role, "via": "http" if actor_id else "cli"})
    return user


async def grant_admin(db: Database, username: str) -> User:
    """`livequiz admin grant USERNAME`."""
    async with db.session() as session:
        user_id = (await session.exec(
            select(User.id).where(col(User.username) == username.strip().lower(), col(User.deleted_at).is_(None))
        )).first()
    if user_id is None:
        raise AccountError("not_found", f"no user {username!r}")
    return await set_role(db, user_id, "admin", actor_id=None)


async def create_admin(db: Database, username: str, password: str | None = None) -> tuple[User, str]:
    """`livequiz admin create USERNAME`: a new admin account; its password (generated when not
    given) is returned once to be shown to the operator."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError("invalid", "username must be 3–32 characters of a-z, 0-9 and _")
    password = password or random_password()
    password_hash = await hash_password(password)
    async with db.transaction() as session:
        if (await session.exec(select(User.id).where(col(User.username) == username))).first() is not None:
            raise AccountError("username_taken", f"{username!r} exists; use 'livequiz admin grant {username}'")
        user = User(username=username, first_name=username, role="admin", password_hash=password_hash)
        session.add(user)
        await session.flush()
        await audit.record(session, audit.ADMIN_CREATE, target_user_id=user.id, details={"via": "cli"})
    return user, password
