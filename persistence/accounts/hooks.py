"""Where other areas join account events, inside the same SQL transaction.

The wallet (persistence/wallet) credits the welcome and referral bonuses when an account is
registered and forfeits the balances when it is deleted; attempts and wallet transactions
join the data export. Each area registers its functions here at import; the accounts code
calls whatever is registered, so accounts never import those areas and works without them.

- `on_registered(session, user_id, referrer_id)`: the new account exists (flushed, not yet
  committed); `referrer_id` is the user named in `referral`, if any.
- `on_deleted(session, user_id)`: the account is being deleted; forfeit what it holds.
- `export_sections[name] = fn(session, user_id) -> list[dict]`: a section of `GET /api/me/export`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

RegisteredHook = Callable[[AsyncSession, int, int | None], Awaitable[None]]
DeletedHook = Callable[[AsyncSession, int], Awaitable[None]]
ExportSection = Callable[[AsyncSession, int], Awaitable[list[dict[str, Any]]]]

on_registered: list[RegisteredHook] = []
on_deleted: list[DeletedHook] = []
export_sections: dict[str, ExportSection] = {}


async def run_registered(session: AsyncSession, user_id: int, referrer_id: int | None) -> None:
    for hook in on_registered:
        await hook(session, user_id, referrer_id)


async def run_deleted(session: AsyncSession, user_id: int) -> None:
    for hook in on_deleted:
        await hook(session, user_id)
