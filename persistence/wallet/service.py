"""Money movements. Each function takes an open session inside the caller's SQL transaction
(so registration, account deletion or an exam attempt moves money in the same transaction as
the rest of what it does), locks the user accounts it touches, checks, and posts one balanced
transaction. A refusal (`WalletError`) is raised before anything is written.

Accounts (models.py): a user's main, bonus, earnings and held; system gateway, payouts, tax,
issuance and forfeited. Top-ups and withdrawals (money in and out by card) are in `cards.py`
and re-exported here, so callers find every movement in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts.models import User
from persistence.wallet import ledger
from persistence.wallet.cards import (
    Confirmed,
    confirm_topup,
    decide_withdrawal,
    request_withdrawal,
    settle_withdrawal,
    start_topup,
)
from persistence.wallet.errors import WalletError, insufficient_funds, not_found
from persistence.wallet.ledger import system_key, user_key
from persistence.wallet.models import Withdrawal
from persistence.wallet.money import WalletConfig, check_amount, tax_of

__all__ = [
    "Confirmed",
    "Payment",
    "check_amount",
    "confirm_topup",
    "decide_withdrawal",
    "forfeit_balances",
    "grant_admin_bonus",
    "grant_referral_bonus",
    "grant_welcome_bonus",
    "pay_for_exam",
    "request_withdrawal",
    "start_topup",
    "transfer",
]


async def _live_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise not_found("user")
    return user


# Bonuses -------------------------------------------------------------------------------------


async def _grant_bonus(
    session: AsyncSession,
    user_id: int,
    amount: int,
    *,
    kind: str,
    once_key: str | None,
    ref: str | None = None,
    actor_id: int | None = None,
    memo: str | None = None,
) -> int | None:
    if amount <= 0:
        return None
    bonus = user_key(user_id, "bonus")
    locked = await ledger.lock(session, [bonus, system_key("issuance")])
    if once_key is not None and await ledger.once_done(session, once_key):
        return None
    posted = await ledger.post(
        session,
        locked,
        [(system_key("issuance"), -amount), (bonus, amount)],
        kind=kind,
        amount=amount,
        ref=ref,
        once_key=once_key,
        actor_id=actor_id,
        memo=memo,
    )
    return posted.transaction_id


async def grant_welcome_bonus(session: AsyncSession, user_id: int, config: WalletConfig) -> int | None:
    """Registration: the welcome bonus, once per user ever (a second call moves nothing)."""
    return await _grant_bonus(
        session, user_id, config.welcome_bonus, kind="welcome_bonus", once_key=f"welcome:{user_id}"
    )


async def grant_referral_bonus(
    session: AsyncSession, referrer_id: int, referred_id: int, config: WalletConfig
) -> int | None:
    """Registration with `referral`: the referrer's bonus, once per referred user."""
    if referrer_id == referred_id:
        return None
    return await _grant_bonus(
        session,
        referrer_id,
        config.referral_bonus,
        kind="referral_bonus",
        once_key=f"referral:{referred_id}",
        ref=f"user:{referred_id}",
    )


async def grant_admin_bonus(session: AsyncSession, admin_id: int, user_id: int, amount: int, reason: str) -> int:
    await _live_user(session, user_id)
    transaction_id = await _grant_bonus(
        session, user_id, amount, kind="admin_bonus", once_key=None, actor_id=admin_id, memo=reason[:200]
    )
    assert transaction_id is not None
    return transaction_id


# Paying for an exam --------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    transaction_id: int | None
    from_bonus: int
    from_main: int


async def pay_for_exam(
    session: AsyncSession, payer_id: int, owner_id: int, price: int, *, exam_id: int, ref: str | None = None
) -> Payment:
    """The payer pays `price`, bonus first, then main; the whole price goes to the owner's
    earnings. `insufficient_funds` (402) and nothing moved when bonus + main is short."""
    if price < 0:
        raise ValueError("a price is never negative")
    if price == 0:
        return Payment(None, 0, 0)
    owner = await session.get(User, owner_id)
    if owner is None or owner.deleted_at is not None:
        raise WalletError(409, "owner_deleted", "the owner of this exam has deleted their account")
    bonus, main, earnings = user_key(payer_id, "bonus"), user_key(payer_id, "main"), user_key(owner_id, "earnings")
    locked = await ledger.lock(session, [bonus, main, earnings])
    available = locked.balance(bonus) + locked.balance(main)
    if available < price:
        raise insufficient_funds(price, available)
    from_bonus = min(price, locked.balance(bonus))
    from_main = price - from_bonus
    posted = await ledger.post(
        session,
        locked,
        [(bonus, -from_bonus), (main, -from_main), (earnings, price)],
        kind="payment",
        amount=price,
        ref=ref or f"exam:{exam_id}",
        actor_id=payer_id,
    )
    return Payment(posted.transaction_id, from_bonus, from_main)


# Transfers from earnings ---------------------------------------------------------------------


async def transfer(session: AsyncSession, config: WalletConfig, user_id: int, amount: int, to: str) -> dict[str, int]:
    """Earnings to bonus (10 % tax) or to main (20 %)."""
    if to not in ("bonus", "main"):
        raise WalletError(
            422,
            "invalid",
            "to must be 'bonus' or 'main'",
            [{"loc": ["body", "to"], "msg": "bonus or main", "type": "enum"}],
        )
    check_amount(amount, config)
    rate = config.rates.to_bonus if to == "bonus" else config.rates.to_main
    tax = tax_of(amount, rate)
    earnings, target = user_key(user_id, "earnings"), user_key(user_id, to)
    locked = await ledger.lock(session, [earnings, target, system_key("tax")])
    if locked.balance(earnings) < amount:
        raise insufficient_funds(amount, locked.balance(earnings))
    posted = await ledger.post(
        session,
        locked,
        [(earnings, -amount), (target, amount - tax), (system_key("tax"), tax)],
        kind=f"transfer_to_{to}",
        amount=amount,
        tax=tax,
        actor_id=user_id,
    )
    return {"transaction_id": posted.transaction_id, "amount": amount, "tax": tax, "credited": amount - tax}


# Account deletion ----------------------------------------------------------------------------


async def forfeit_balances(session: AsyncSession, user_id: int) -> int | None:
    """Account deletion (000 §5, §8): pending withdrawals are cancelled (their holds return to
    main), then main, bonus and earnings go to the forfeited account. The entries stay."""
    keys = [*ledger.user_keys(user_id), system_key("forfeited")]
    # The deletion being made: its own accounts only as far as they exist.
    locked = await ledger.lock(session, keys, allow_deleted=True, open_missing=False)
    pending = (
        await session.exec(
            select(Withdrawal)
            .where(Withdrawal.user_id == user_id, Withdrawal.status == "pending")
            .order_by(col(Withdrawal.id))
            .with_for_update()
        )
    ).all()
    for withdrawal in pending:
        await settle_withdrawal(session, withdrawal, locked, "cancelled", None)
        withdrawal.card_token = None
    kept = [
        (user_key(user_id, kind), locked.balances.get(user_key(user_id, kind), 0))
        for kind in ("main", "bonus", "earnings")
    ]
    total = sum(balance for _, balance in kept)
    if total == 0:
        return None
    legs = [(key, -balance) for key, balance in kept] + [(system_key("forfeited"), total)]
    posted = await ledger.post(session, locked, legs, kind="forfeit", amount=total, ref=f"user:{user_id}")
    return posted.transaction_id
