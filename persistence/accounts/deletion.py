"""Account deletion (000 §8, 003 §10): personal data removed irreversibly.

The row stays, emptied, so that results, ledger entries and audit entries keep pointing at
"deleted user": name, username, email, phone, password hash, Telegram and Google links become NULL in
the same transaction that ends every token and session, drops pending link codes, renames
the user's result lines to "deleted user" and lets the wallet forfeit the balances (hook).
Nothing of the old values is kept anywhere, so there is nothing to restore.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col

from persistence.accounts import audit, hooks, tokens
from persistence.accounts.errors import AccountError
from persistence.accounts.models import TelegramLinkCode, User
from persistence.accounts.passwords import verify_password
from persistence.accounts.tokens import Principal
from persistence.db import Database
from persistence.results.store import forget_player
from persistence.types import utcnow


async def delete_account(db: Database, principal: Principal, password: object, *, ip: str | None = None) -> None:
    """`DELETE /api/me {password}`: the password confirms it; `403 wrong_password` otherwise."""
    if not await verify_password(principal.user.password_hash, password if isinstance(password, str) else ""):
        raise AccountError("wrong_password", "the password is wrong")
    await erase(db, principal.user_id, actor_id=principal.user_id, ip=ip)


async def erase(db: Database, user_id: int, *, actor_id: int | None, ip: str | None = None) -> None:
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            raise AccountError("not_found", "no such account")
        for name in ("username", "password_hash", "first_name", "last_name", "email", "phone", "telegram_id",
                     "google_sub"):
            setattr(user, name, None)
        user.deleted_at = utcnow()
        await tokens.revoke_all(session, user_id)
        await session.exec(delete(TelegramLinkCode).where(col(TelegramLinkCode.user_id) == user_id))
        await forget_player(session, user_id)
        await hooks.run_deleted(session, user_id)
        await audit.record(session, audit.ACCOUNT_DELETE, actor_id=actor_id, target_user_id=user_id, ip=ip)
