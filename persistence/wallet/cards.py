"""Money in and out by card: top-ups (the provider's one-time code, credited to main once) and
withdrawals (held at once, then paid out or returned, once). Like every movement in
`service.py`, each function runs inside the caller's SQL transaction and locks the user
accounts it touches before it reads what it decides on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.types import utcnow
from persistence.wallet import ledger
from persistence.wallet.errors import WalletError, already_decided, insufficient_funds, not_found
from persistence.wallet.ledger import system_key, user_key
from persistence.wallet.models import Topup, Withdrawal
from persistence.wallet.money import WalletConfig, check_amount, tax_of
from persistence.wallet.providers import PaymentProvider, card_number_ok

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
                attempts_left=max(left, 0),
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
            [{"loc": ["body", "card"], "msg": "not a card number", "type": "card_number"}],
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


async def settle_withdrawal(
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
    locked = await ledger.lock(session, keys, allow_deleted=True)  # the status says what happened
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
    await settle_withdrawal(session, withdrawal, locked, "approved" if approve else "rejected", admin_id)
    return withdrawal
