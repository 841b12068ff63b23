"""Linking a Telegram account: a one-time code the user sends to the bot as `/link CODE`.

The code is 8 characters of an alphabet without look-alikes (40 bits): short enough to type,
valid 10 minutes, used once, stored as a digest like every other secret. A new code replaces
the user's unused ones. One Telegram account belongs to one user: linking it moves it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from persistence.accounts import audit
from persistence.accounts.models import TelegramLinkCode, User
from persistence.accounts.tokens import digest
from persistence.db import Database
from persistence.types import utcnow

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class LinkCode:
    code: str
    expires_at: datetime


def normalize_code(raw: str) -> str:
    return raw.strip().upper().replace("-", "").replace(" ", "")


async def new_link_code(db: Database, user_id: int) -> LinkCode:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = utcnow() + CODE_LIFETIME
    async with db.transaction() as session:
        await session.exec(delete(TelegramLinkCode).where(col(TelegramLinkCode.user_id) == user_id))
        session.add(TelegramLinkCode(digest=digest(code), user_id=user_id, expires_at=expires_at))
    return LinkCode(code, expires_at)


async def link_telegram(db: Database, code: str, telegram_id: int) -> bool:
    """The bot's `/link CODE` from Telegram user `telegram_id`: True when the code was valid
    (unused, unexpired, its account alive) and the account is now linked; False otherwise.
    A code works once, even when two messages race (the update claims it)."""
    if not isinstance(code, str) or not 1 <= len(code) <= 32 or isinstance(telegram_id, bool):
        return False
    now = utcnow()
    code_digest = digest(normalize_code(code))
    async with db.transaction() as session:
        claimed = await session.exec(
            update(TelegramLinkCode)
            .where(col(TelegramLinkCode.digest) == code_digest, col(TelegramLinkCode.used_at).is_(None),
                   col(TelegramLinkCode.expires_at) > now)
            .values(used_at=now)
        )
        if claimed.rowcount != 1:
            return False
        user_id = (await session.exec(
            select(TelegramLinkCode.user_id).where(col(TelegramLinkCode.digest) == code_digest)
        )).one()
        user = await session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            return False
        previous = (await session.exec(
            select(User).where(col(User.telegram_id) == telegram_id, col(User.id) != user_id)
        )).first()
        if previous is not None:
            previous.telegram_id = None
            await session.flush()  # free the unique telegram_id before it is given again
            await audit.record(session, audit.TELEGRAM_UNLINK, actor_id=user_id, target_user_id=previous.id,
                               details={"reason": "linked to another account"})
        user.telegram_id = telegram_id
        await audit.record(session, audit.TELEGRAM_LINK, actor_id=user_id, target_user_id=user_id,
                           details={"via": "bot"})
    return True


async def unlink_telegram(db: Database, user_id: int, *, ip: str | None = None) -> None:
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        if user is not None and user.telegram_id is not None:
            user.telegram_id = None
            await audit.record(session, audit.TELEGRAM_UNLINK, actor_id=user_id, target_user_id=user_id, ip=ip)
        await session.exec(delete(TelegramLinkCode).where(col(TelegramLinkCode.user_id) == user_id))


async def user_of_telegram(db: Database, telegram_id: int) -> User | None:
    async with db.session() as session:
        return (await session.exec(
            select(User).where(col(User.telegram_id) == telegram_id, col(User.deleted_at).is_(None))
        )).first()
