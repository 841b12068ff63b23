"""Password reset (000 §8): a new random password goes to the linked Telegram account, else to
the email address; the old password and every token and session end.

The work is split so that the caller can deliver in between: `plan` picks the account and the
channel and makes the password, the caller sends it, and only then `apply` stores it — a
message that could not be sent changes nothing, so nobody is locked out by a failed mail.
The HTTP answer is `202` before any of this runs, whatever the login, so neither the answer
nor its timing tells whether an account exists.

Bound: one reset per account per `RESET_INTERVAL` (a stranger who knows a username cannot keep
changing its password); attempts in between are dropped and recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from persistence.accounts import audit, tokens
from persistence.accounts.models import User
from persistence.accounts.passwords import hash_password, random_password
from persistence.accounts.service import find_by_login
from persistence.db import Database
from persistence.types import utcnow

RESET_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class PlannedReset:
    user_id: int
    channel: str  # "telegram" or "email"
    address: str  # the Telegram chat id or the email address
    first_name: str
    password: str
    password_hash: str


async def plan(db: Database, login: str, *, ip: str | None = None) -> PlannedReset | None:
    """The reset to deliver, or None: unknown login, no channel, or too soon after the last."""
    if not isinstance(login, str) or not 1 <= len(login) <= 254:
        return None
    async with db.session() as session:
        user = await find_by_login(session, login)
        if user is None or user.id is None:
            return None
        last = await audit.last_at(session, audit.PASSWORD_RESET, user.id)
    if last is not None and utcnow() - last < RESET_INTERVAL:
        await _note(db, user.id, ip, "too soon after the last reset")
        return None
    if user.telegram_id is not None:
        channel, address = "telegram", str(user.telegram_id)
    elif user.email:
        channel, address = "email", user.email
    else:
        await _note(db, user.id, ip, "no Telegram link and no email")
        return None
    password = random_password()
    return PlannedReset(user.id, channel, address, user.first_name or "", password, await hash_password(password))


async def apply(db: Database, planned: PlannedReset, *, ip: str | None = None) -> None:
    """Store the delivered password; every token and session of the account ends."""
    async with db.transaction() as session:
        user = await session.get(User, planned.user_id)
        if user is None or user.deleted_at is not None:
            return
        user.password_hash = planned.password_hash
        await tokens.revoke_all(session, planned.user_id)
        await audit.record(session, audit.PASSWORD_RESET, target_user_id=planned.user_id, ip=ip,
                           details={"channel": planned.channel})


async def undeliverable(db: Database, planned: PlannedReset, *, ip: str | None = None) -> None:
    await _note(db, planned.user_id, ip, f"{planned.channel} delivery failed")


async def _note(db: Database, user_id: int, ip: str | None, reason: str) -> None:
    async with db.transaction() as session:
        await audit.record(session, audit.PASSWORD_RESET_UNDELIVERABLE, target_user_id=user_id, ip=ip,
                           details={"reason": reason})
