"""The audit log (seed 002): who did what, when, from where.

Entries are written in the same transaction as the action they record, so an action and its
entry land together or not at all. The table is append-only: there is no update or delete
here, and the database itself refuses both (triggers in migration 0001), so not even a bug
or a hand-written query can edit history.

Details never hold personal data (no names, emails, phones, passwords or login strings):
the log outlives an account's deletion, and points at users by id only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts.models import AuditEntry
from persistence.types import iso

# The actions recorded; a stable vocabulary admins can filter on.
LOGIN = "login"
LOGIN_FAILED = "login.failed"
LOGOUT = "logout"
REGISTER = "register"
PROFILE_UPDATE = "profile.update"
PASSWORD_CHANGE = "password.change"
PASSWORD_RESET = "password.reset"
PASSWORD_RESET_UNDELIVERABLE = "password.reset.undeliverable"
TELEGRAM_LINK = "telegram.link"
TELEGRAM_UNLINK = "telegram.unlink"
ACCOUNT_DELETE = "account.delete"
ROLE_CHANGE = "role.change"
ADMIN_CREATE = "admin.create"
ADMIN_AUDIT_READ = "admin.audit.read"


async def record(
    session: AsyncSession, action: str, *, actor_id: int | None = None, target_user_id: int | None = None,
    ip: str | None = None, details: dict[str, Any] | None = None,
) -> None:
    session.add(AuditEntry(
        action=action, actor_id=actor_id, target_user_id=target_user_id, ip=(ip or None) and ip[:64],
        details=orjson.dumps(details or {}).decode(),
    ))
    await session.flush()


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    action: str
    actor_id: int | None
    target_user_id: int | None
    ip: str | None
    details: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "at": iso(self.at), "action": self.action, "actor_id": self.actor_id,
                "target_user_id": self.target_user_id, "ip": self.ip, "details": self.details}


def _view(entry: AuditEntry) -> AuditView:
    assert entry.id is not None
    return AuditView(entry.id, entry.at, entry.action, entry.actor_id, entry.target_user_id, entry.ip,
                     orjson.loads(entry.details))


async def entries(
    session: AsyncSession, *, limit: int, before_id: int | None = None, user_id: int | None = None,
    action: str | None = None,
) -> list[AuditView]:
    """A page of entries, newest first; `user_id` keeps those where the user acted or was acted on."""
    query = select(AuditEntry)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    if user_id is not None:
        query = query.where(or_(col(AuditEntry.actor_id) == user_id, col(AuditEntry.target_user_id) == user_id))
    if action is not None:
        query = query.where(col(AuditEntry.action) == action)
    rows = (await session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))).all()
    return [_view(row) for row in rows]


async def last_at(session: AsyncSession, action: str, target_user_id: int) -> datetime | None:
    """When `action` last happened to a user (bounds resets to one per user per few minutes)."""
    row = (await session.exec(
        select(AuditEntry.at).where(col(AuditEntry.action) == action, col(AuditEntry.target_user_id) == target_user_id)
        .order_by(col(AuditEntry.id).desc()).limit(1)
    )).first()
    return row
