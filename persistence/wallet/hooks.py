"""The wallet's part in account events (persistence/accounts/hooks.py), in the same SQL
transaction as the event: the welcome and referral bonuses at registration, the forfeit at
deletion, and the wallet section of the data export."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import hooks
from persistence.wallet import queries, service
from persistence.wallet.money import WalletConfig

_config = WalletConfig()


async def _registered(session: AsyncSession, user_id: int, referrer_id: int | None) -> None:
    await service.grant_welcome_bonus(session, user_id, _config)
    if referrer_id is not None:
        await service.grant_referral_bonus(session, referrer_id, user_id, _config)


async def _deleted(session: AsyncSession, user_id: int) -> None:
    await service.forfeit_balances(session, user_id)


async def _export(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: int | None = None
    while True:
        page, cursor = await queries.history(session, user_id, 100, cursor)
        items.extend(page)
        if cursor is None:
            return items


def install(config: WalletConfig) -> None:
    """Join the account events with these amounts (once; a later call only updates them)."""
    global _config
    _config = config
    if _registered not in hooks.on_registered:
        hooks.on_registered.append(_registered)
    if _deleted not in hooks.on_deleted:
        hooks.on_deleted.append(_deleted)
    hooks.export_sections["wallet_transactions"] = _export
