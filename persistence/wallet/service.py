"""Money movements. Each function takes an open session inside the caller's SQL transaction
(so registration, account deletion or an exam attempt moves money in the same transaction as
the rest of what it does), locks the user accounts it touches, checks, and posts one balanced
transaction. A refusal (`WalletError`) is raised before anything is written.

Accounts (models.py): a user's main, bonus, earnings and held; system gateway, payouts, tax,
issuance and forfeited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts.models import User
from persistence.types import utcnow
from persistence.wallet import ledger
from persistence.wallet.errors import WalletError, already_decided, insufficient_funds, not_found
from persistence.wallet.ledger import system_key, user_key
from persistence.wallet.models import Topup, Withdrawal
from persistence.wallet.money import WalletConfig, tax_of
from persistence.wallet.providers import PaymentProvider, card_number_ok


def check_amount(value: object, config: WalletConfig, field: str = "amount") -> int:
    """A whole number of so'm within the configured bounds, else 422 invalid."""
    if not isinstance(value, int) or isinstance(value, bool) or not config.min_amount <= value <= config.max_amount:
        raise WalletError(
            422,
            "invalid",
            f"{field} must be a whole number of so'm, {config.min_amount}–{config.max_amount}",
            [{"loc": ["body", field], "msg": f"a whole number {config.min_amount}–{config.max_amount}"}],
        )
    return value


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
            422, "invalid", "to must be 'bonus' or 'main'", [{"loc": ["body", "to"], "msg": "bonus or main"}]
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


# Top-ups -------------------------------------------------------------------------------------


async def start_topup(
    session: AsyncSession, provider: PaymentProvider, config: WalletConfig, user_id: int, amount: int
) -> tuple[Topup, str | None]:
    check_amount(amount, config)
    topup = Topup(
        user_id=user_id,
        amount=amount,
        provider=provider.name,
        provider_ref="pending",
        expires_at=utcnow() + timedelta(seconds=config.otp_ttl_s),
    )
    session.add(topup)
    await session.flush()
    assert topup.id is not None
    started = await provider.start_topup(topup.id, amount)
    topup.provider_ref, topup.otp_digest = started.provider_ref, started.otp_digest
    await session.flush()
    return topup, started.sandbox_otp


@dataclass(frozen=True)
class Confirmed:
    topup: Topup
    refusal: WalletError | None  # a wrong code: the attempt is counted (commit!) and this answered


async def confirm_topup(
    session: AsyncSession, provider: PaymentProvider, config: WalletConfig, user_id: int, topup_id: int, otp: str
) -> Confirmed:
    """Credit main once for the right code; a wrong one counts (the last allowed one expires the
    top-up); an expired top-up is `410 expired`; a confirmed one answers as confirmed again."""
    found = await session.get(Topup, topup_id)
    if found is None or found.user_id != user_id:
        raise not_found("top-up")
    main = user_key(user_id, "main")
    locked = await ledger.lock(session, [main, system_key("gateway")])
    topup = (
        await session.exec(
            select(Topup).where(Topup.id == topup_id).with_for_update().execution_options(populate_existing=True)
        )
    ).one()
    if topup.status == "confirmed":
        return Confirmed(topup, None)
    if topup.status == "otp_sent" and topup.expires_at <= utcnow():
        topup.status = "expired"
        await session.flush()
    if topup.status != "otp_sent":
        raise WalletError(410, "expired", "this top-up has expired; start a new one")
    if not await provider.confirm_topup(topup.provider_ref, otp, topup.otp_digest):
        topup.attempts += 1
        left = config.otp_attempts - topup.attempts
        if left <= 0:
            topup.status = "expired"
        await session.flush()
        return Confirmed(
            topup,
            WalletError(
                422,
                "bad_otp",
                "the code is not right" + ("" if left > 0 else "; the top-up has expired"),
                {"attempts_left": max(left, 0)},
            ),
        )
    posted = await ledger.post(
        session,
        locked,
        [(system_key("gateway"), -topup.amount), (main, topup.amount)],
        kind="topup",
        amount=topup.amount,
        ref=f"topup:{topup_id}",
        once_key=f"topup:{topup_id}",
        actor_id=user_id,
    )
    topup.status, topup.transaction_id = "confirmed", posted.transaction_id
    await session.flush()
    return Confirmed(topup, None)


# Withdrawals ---------------------------------------------------------------------------------


async def request_withdrawal(
    session: AsyncSession, provider: PaymentProvider, config: WalletConfig, user_id: int, amount: int, card: object
) -> Withdrawal:
    """Hold `amount` of main at once; 5 % tax is fixed now (rate changes later do not touch it)."""
    check_amount(amount, config)
    if not isinstance(card, str) or not card_number_ok(card.replace(" ", "")):
        raise WalletError(
            422,
            "invalid",
            "card must be a card number (12–19 digits)",
            [{"loc": ["body", "card"], "msg": "not a card number"}],
        )
    main, held = user_key(user_id, "main"), user_key(user_id, "held")
    locked = await ledger.lock(session, [main, held])
    if locked.balance(main) < amount:
        raise insufficient_funds(amount, locked.balance(main))
    card_ref = await provider.tokenize_card(card.replace(" ", ""))
    posted = await ledger.post(
        session, locked, [(main, -amount), (held, amount)], kind="withdrawal", amount=amount, actor_id=user_id
    )
    withdrawal = Withdrawal(
        user_id=user_id,
        amount=amount,
        tax=tax_of(amount, config.rates.withdraw),
        card_mask=card_ref.mask,
        card_token=card_ref.token,
        hold_transaction_id=posted.transaction_id,
    )
    session.add(withdrawal)
    await session.flush()
    return withdrawal


async def _settle(
    session: AsyncSession, withdrawal: Withdrawal, locked: ledger.Locked, outcome: str, actor_id: int | None
) -> None:
    held, main = user_key(withdrawal.user_id, "held"), user_key(withdrawal.user_id, "main")
    amount, tax = withdrawal.amount, withdrawal.tax
    if outcome == "approved":
        legs = [(held, -amount), (system_key("payouts"), amount - tax), (system_key("tax"), tax)]
    else:
        legs = [(held, -amount), (main, amount)]
    posted = await ledger.post(
        session,
        locked,
        legs,
        kind=f"withdrawal_{outcome}",
        amount=amount,
        tax=tax if outcome == "approved" else 0,
        ref=f"withdrawal:{withdrawal.id}",
        once_key=f"withdrawal:{withdrawal.id}",
        actor_id=actor_id,
    )
    withdrawal.status, withdrawal.decided_at, withdrawal.decided_by = outcome, utcnow(), actor_id
    withdrawal.decision_transaction_id = posted.transaction_id
    await session.flush()


async def decide_withdrawal(
    session: AsyncSession, provider: PaymentProvider, admin_id: int, withdrawal_id: int, approve: bool
) -> Withdrawal:
    """Approve (pay `amount − tax` out, tax to revenue) or reject (the hold returns); once."""
    found = await session.get(Withdrawal, withdrawal_id)
    if found is None:
        raise not_found("withdrawal")
    keys = [user_key(found.user_id, "held"), user_key(found.user_id, "main"), system_key("payouts"), system_key("tax")]
    locked = await ledger.lock(session, keys)
    withdrawal = (
        await session.exec(
            select(Withdrawal)
            .where(Withdrawal.id == withdrawal_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if withdrawal.status != "pending":
        raise already_decided(withdrawal.status)
    if approve:
        assert withdrawal.card_token is not None
        withdrawal.payout_ref = await provider.payout(
            withdrawal_id, withdrawal.amount - withdrawal.tax, withdrawal.card_token
        )
    await _settle(session, withdrawal, locked, "approved" if approve else "rejected", admin_id)
    return withdrawal


# Account deletion ----------------------------------------------------------------------------


async def forfeit_balances(session: AsyncSession, user_id: int) -> int | None:
    """Account deletion (000 §5, §8): pending withdrawals are cancelled (their holds return to
    main), then main, bonus and earnings go to the forfeited account. The entries stay."""
    keys = [*ledger.user_keys(user_id), system_key("forfeited")]
    locked = await ledger.lock(session, keys)
    pending = (
        await session.exec(
            select(Withdrawal)
            .where(Withdrawal.user_id == user_id, Withdrawal.status == "pending")
            .order_by(col(Withdrawal.id))
            .with_for_update()
        )
    ).all()
    for withdrawal in pending:
        await _settle(session, withdrawal, locked, "cancelled", None)
        withdrawal.card_token = None
    kept = [
        (user_key(user_id, kind), locked.balance(user_key(user_id, kind))) for kind in ("main", "bonus", "earnings")
    ]
    total = sum(balance for _, balance in kept)
    if total == 0:
        return None
    legs = [(key, -balance) for key, balance in kept] + [(system_key("forfeited"), total)]
    posted = await ledger.post(session, locked, legs, kind="forfeit", amount=total, ref=f"user:{user_id}")
    return posted.transaction_id
