"""The wallet's rules, one by one (PLATFORM.md "Wallet"), on SQLite and PostgreSQL; every
test ends with the invariant check (wallet_support.wallet_db)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, update
from sqlmodel import col, select

from persistence.accounts.models import User
from persistence.db import Database
from persistence.wallet import invariants, queries, service
from persistence.wallet.errors import WalletError
from persistence.wallet.models import LedgerEntry, LedgerTransaction, WalletAccount
from persistence.wallet.money import tax_of
from persistence.wallet.providers import SandboxProvider, WebhookRejected, card_number_ok
from tests.persistence.wallet_support import CARD, CONFIG, PROVIDER, balances, make_user, wallet_db

__all__ = ["wallet_db"]


async def _topup(db: Database, user_id: int, amount: int) -> None:
    async with db.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user_id, amount)
    assert otp is not None and topup.id is not None
    async with db.transaction() as session:
        confirmed = await service.confirm_topup(session, PROVIDER, CONFIG, user_id, topup.id, otp)
    assert confirmed.refusal is None and confirmed.topup.status == "confirmed"


async def _earn(db: Database, owner: int, amount: int) -> None:
    """Give `owner` earnings the way they arise: someone pays for their exam."""
    payer = await make_user(db, f"payer{owner}x{amount}")
    await _topup(db, payer, amount)
    async with db.transaction() as session:
        await service.pay_for_exam(session, payer, owner, amount, exam_id=1)


def test_tax_rounds_half_up_in_integers() -> None:
    assert tax_of(100_000, 20) == 20_000
    assert tax_of(100_000, 10) == 10_000
    assert tax_of(100_000, 5) == 5_000
    assert tax_of(5, 10) == 1  # 0.5 → 1
    assert tax_of(15, 10) == 2  # 1.5 → 2
    assert tax_of(14, 10) == 1  # 1.4 → 1
    assert tax_of(1_010, 5) == 51  # 50.5 → 51
    assert tax_of(1_009, 5) == 50  # 50.45 → 50
    with pytest.raises(ValueError):
        tax_of(-1, 5)


def test_card_numbers_need_digits_and_luhn() -> None:
    assert card_number_ok(CARD)
    assert not card_number_ok("4111111111111112")
    assert not card_number_ok("41111111")
    assert not card_number_ok("4111-1111-1111-1111")


async def test_welcome_bonus_is_credited_once(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "alice")
    for _ in range(3):
        async with wallet_db.transaction() as session:
            await service.grant_welcome_bonus(session, user, CONFIG)
    assert await balances(wallet_db, user) == {"main": 0, "bonus": CONFIG.welcome_bonus, "earnings": 0, "held": 0}


async def test_referral_bonus_once_per_referred_user_and_never_to_oneself(wallet_db: Database) -> None:
    referrer = await make_user(wallet_db, "referrer")
    first = await make_user(wallet_db, "first")
    second = await make_user(wallet_db, "second")
    for referred in (first, first, second):
        async with wallet_db.transaction() as session:
            await service.grant_referral_bonus(session, referrer, referred, CONFIG)
    async with wallet_db.transaction() as session:
        assert await service.grant_referral_bonus(session, referrer, referrer, CONFIG) is None
    assert (await balances(wallet_db, referrer))["bonus"] == 2 * CONFIG.referral_bonus


async def test_payment_takes_bonus_first_then_main_and_pays_the_owner_whole(wallet_db: Database) -> None:
    payer, owner = await make_user(wallet_db, "payer"), await make_user(wallet_db, "owner")
    async with wallet_db.transaction() as session:
        await service.grant_welcome_bonus(session, payer, CONFIG)  # 5,000 bonus
    await _topup(wallet_db, payer, 10_000)
    async with wallet_db.transaction() as session:
        paid = await service.pay_for_exam(session, payer, owner, 8_000, exam_id=7)
    assert (paid.from_bonus, paid.from_main) == (5_000, 3_000)
    assert await balances(wallet_db, payer) == {"main": 7_000, "bonus": 0, "earnings": 0, "held": 0}
    assert (await balances(wallet_db, owner))["earnings"] == 8_000


async def test_payment_short_of_funds_is_402_and_moves_nothing(wallet_db: Database) -> None:
    payer, owner = await make_user(wallet_db, "payer"), await make_user(wallet_db, "owner")
    await _topup(wallet_db, payer, 1_000)
    before = await invariants_count(wallet_db)
    with pytest.raises(WalletError) as refused:
        async with wallet_db.transaction() as session:
            await service.pay_for_exam(session, payer, owner, 1_001, exam_id=7)
    assert (refused.value.status, refused.value.code) == (402, "insufficient_funds")
    assert refused.value.facts == {"needed": 1_001, "available": 1_000}
    assert await balances(wallet_db, payer) == {"main": 1_000, "bonus": 0, "earnings": 0, "held": 0}
    assert await invariants_count(wallet_db) == before


async def invariants_count(db: Database) -> int:
    async with db.session() as session:
        return (await invariants.check(session)).transactions


async def test_transfers_from_earnings_are_taxed_by_their_rate(wallet_db: Database) -> None:
    owner = await make_user(wallet_db, "owner")
    await _earn(wallet_db, owner, 300_000)
    async with wallet_db.transaction() as session:
        to_main = await service.transfer(session, CONFIG, owner, 100_000, "main")
        to_bonus = await service.transfer(session, CONFIG, owner, 100_000, "bonus")
    assert (to_main["tax"], to_main["credited"]) == (20_000, 80_000)
    assert (to_bonus["tax"], to_bonus["credited"]) == (10_000, 90_000)
    assert await balances(wallet_db, owner) == {"main": 80_000, "bonus": 90_000, "earnings": 100_000, "held": 0}
    with pytest.raises(WalletError) as refused:
        async with wallet_db.transaction() as session:
            await service.transfer(session, CONFIG, owner, 100_001, "main")
    assert refused.value.code == "insufficient_funds"
    with pytest.raises(WalletError) as bad:
        async with wallet_db.transaction() as session:
            await service.transfer(session, CONFIG, owner, 1_000, "earnings")
    assert bad.value.code == "invalid"


@pytest.mark.parametrize("amount", [0, -5, 999, 100_000_001, 1.5, True, "1000", None])
async def test_amounts_outside_the_bounds_are_invalid(wallet_db: Database, amount: object) -> None:
    user = await make_user(wallet_db, "u")
    with pytest.raises(WalletError) as refused:
        async with wallet_db.transaction() as session:
            await service.start_topup(session, PROVIDER, CONFIG, user, amount)  # type: ignore[arg-type]
    assert (refused.value.status, refused.value.code) == (422, "invalid")


async def test_topup_credits_main_once_for_the_right_code(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "u")
    async with wallet_db.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user, 50_000)
    assert otp is not None and len(otp) == 6 and topup.id is not None and topup.status == "otp_sent"
    for _ in range(3):
        async with wallet_db.transaction() as session:
            confirmed = await service.confirm_topup(session, PROVIDER, CONFIG, user, topup.id, otp)
        assert confirmed.topup.status == "confirmed" and confirmed.refusal is None
    assert (await balances(wallet_db, user))["main"] == 50_000


async def test_three_wrong_codes_expire_the_topup(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "u")
    async with wallet_db.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user, 50_000)
    assert topup.id is not None and otp is not None
    wrong = "000000" if otp != "000000" else "111111"
    for left in (2, 1, 0):
        async with wallet_db.transaction() as session:
            confirmed = await service.confirm_topup(session, PROVIDER, CONFIG, user, topup.id, wrong)
        assert confirmed.refusal is not None and confirmed.refusal.code == "bad_otp"
        assert confirmed.refusal.facts == {"attempts_left": left}
    with pytest.raises(WalletError) as expired:
        async with wallet_db.transaction() as session:
            await service.confirm_topup(session, PROVIDER, CONFIG, user, topup.id, otp)  # even the right one
    assert (expired.value.status, expired.value.code) == (410, "expired")
    assert (await balances(wallet_db, user))["main"] == 0


async def test_a_topup_past_its_time_is_expired(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "u")
    async with wallet_db.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user, 50_000)
        topup.expires_at = topup.created_at - timedelta(seconds=1)
    assert topup.id is not None and otp is not None
    with pytest.raises(WalletError) as expired:
        async with wallet_db.transaction() as session:
            await service.confirm_topup(session, PROVIDER, CONFIG, user, topup.id, otp)
    assert expired.value.code == "expired"


async def test_someone_elses_topup_is_not_found(wallet_db: Database) -> None:
    user, other = await make_user(wallet_db, "u"), await make_user(wallet_db, "o")
    async with wallet_db.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user, 50_000)
    assert topup.id is not None and otp is not None
    with pytest.raises(WalletError) as refused:
        async with wallet_db.transaction() as session:
            await service.confirm_topup(session, PROVIDER, CONFIG, other, topup.id, otp)
    assert refused.value.code == "not_found"
    assert (await balances(wallet_db, other))["main"] == 0


async def test_withdrawal_holds_then_approval_pays_amount_minus_tax(wallet_db: Database) -> None:
    user, admin = await make_user(wallet_db, "u"), await make_user(wallet_db, "boss", "admin")
    await _topup(wallet_db, user, 200_000)
    async with wallet_db.transaction() as session:
        withdrawal = await service.request_withdrawal(session, PROVIDER, CONFIG, user, 100_000, CARD)
    assert (withdrawal.status, withdrawal.tax, withdrawal.card_mask) == ("pending", 5_000, "•••• 1111")
    assert await balances(wallet_db, user) == {"main": 100_000, "bonus": 0, "earnings": 0, "held": 100_000}
    assert withdrawal.id is not None
    async with wallet_db.transaction() as session:
        decided = await service.decide_withdrawal(session, PROVIDER, admin, withdrawal.id, approve=True)
    assert decided.status == "approved" and decided.payout_ref
    assert await balances(wallet_db, user) == {"main": 100_000, "bonus": 0, "earnings": 0, "held": 0}
    for approve in (True, False):
        with pytest.raises(WalletError) as again:
            async with wallet_db.transaction() as session:
                await service.decide_withdrawal(session, PROVIDER, admin, withdrawal.id, approve=approve)
        assert (again.value.status, again.value.code) == (409, "already_decided")


async def test_rejection_returns_the_hold(wallet_db: Database) -> None:
    user, admin = await make_user(wallet_db, "u"), await make_user(wallet_db, "boss", "admin")
    await _topup(wallet_db, user, 20_000)
    async with wallet_db.transaction() as session:
        withdrawal = await service.request_withdrawal(session, PROVIDER, CONFIG, user, 20_000, CARD)
    assert withdrawal.id is not None
    async with wallet_db.transaction() as session:
        await service.decide_withdrawal(session, PROVIDER, admin, withdrawal.id, approve=False)
    assert await balances(wallet_db, user) == {"main": 20_000, "bonus": 0, "earnings": 0, "held": 0}


async def test_bonus_and_earnings_are_never_withdrawable(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "u")
    async with wallet_db.transaction() as session:
        await service.grant_welcome_bonus(session, user, CONFIG)
    await _earn(wallet_db, user, 50_000)
    with pytest.raises(WalletError) as refused:
        async with wallet_db.transaction() as session:
            await service.request_withdrawal(session, PROVIDER, CONFIG, user, 1_000, CARD)
    assert refused.value.code == "insufficient_funds"
    with pytest.raises(WalletError) as bad_card:
        async with wallet_db.transaction() as session:
            await service.request_withdrawal(session, PROVIDER, CONFIG, user, 1_000, "4111111111111112")
    assert bad_card.value.code == "invalid"


async def test_deletion_forfeits_balances_and_cancels_pending_withdrawals(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "u")
    async with wallet_db.transaction() as session:
        await service.grant_welcome_bonus(session, user, CONFIG)
    await _topup(wallet_db, user, 30_000)
    await _earn(wallet_db, user, 7_000)
    async with wallet_db.transaction() as session:
        withdrawal = await service.request_withdrawal(session, PROVIDER, CONFIG, user, 10_000, CARD)
    async with wallet_db.transaction() as session:
        forfeited = await service.forfeit_balances(session, user)
        person = await session.get(User, user)
        assert person is not None
        person.username, person.first_name, person.deleted_at = None, None, withdrawal.created_at
    assert forfeited is not None
    assert await balances(wallet_db, user) == {"main": 0, "bonus": 0, "earnings": 0, "held": 0}
    async with wallet_db.session() as session:
        items, _ = await queries.history(session, user, 20, None)
        listed, _ = await queries.withdrawals(session, status=None, user_id=user, limit=5, before_id=None)
    assert items[0]["kind"] == "forfeit" and items[0]["amount"] == 30_000 + CONFIG.welcome_bonus + 7_000
    assert items[1]["kind"] == "withdrawal_cancelled"
    assert listed[0]["status"] == "cancelled"
    async with wallet_db.transaction() as session:  # a second deletion call finds nothing to move
        assert await service.forfeit_balances(session, user) is None


async def test_paying_a_deleted_owner_is_refused(wallet_db: Database) -> None:
    payer, owner = await make_user(wallet_db, "payer"), await make_user(wallet_db, "owner")
    await _topup(wallet_db, payer, 5_000)
    async with wallet_db.transaction() as session:
        person = await session.get(User, owner)
        assert person is not None
        person.deleted_at = person.created_at
    with pytest.raises(WalletError) as refused:
        async with wallet_db.transaction() as session:
            await service.pay_for_exam(session, payer, owner, 1_000, exam_id=3)
    assert refused.value.code == "owner_deleted"
    assert (await balances(wallet_db, payer))["main"] == 5_000


async def test_history_pages_show_changes_and_balances_after_each(wallet_db: Database) -> None:
    user, owner = await make_user(wallet_db, "u"), await make_user(wallet_db, "owner")
    async with wallet_db.transaction() as session:
        await service.grant_welcome_bonus(session, user, CONFIG)
    await _topup(wallet_db, user, 10_000)
    async with wallet_db.transaction() as session:
        await service.pay_for_exam(session, user, owner, 6_000, exam_id=9)
    async with wallet_db.session() as session:
        first, cursor = await queries.history(session, user, 2, None)
        rest, end = await queries.history(session, user, 2, cursor)
    assert [item["kind"] for item in first + rest] == ["payment", "topup", "welcome_bonus"]
    assert cursor == first[-1]["id"] and end is None
    payment, topup, welcome = first + rest
    assert payment["changes"] == {"bonus": -5_000, "main": -1_000} and payment["amount"] == 6_000
    assert payment["balance"] == {"main": 9_000, "bonus": 0, "earnings": 0, "held": 0}
    assert payment["ref"] == "exam:9"
    assert topup["balance"] == {"main": 10_000, "bonus": 5_000, "earnings": 0, "held": 0}
    assert welcome["balance"] == {"main": 0, "bonus": 5_000, "earnings": 0, "held": 0}


async def test_the_database_refuses_a_negative_user_balance(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "u")
    async with wallet_db.transaction() as session:
        await service.grant_welcome_bonus(session, user, CONFIG)
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        async with wallet_db.transaction() as session:
            bonus = col(WalletAccount.key) == f"u{user}:bonus"
            await session.exec(update(WalletAccount).where(bonus).values(balance=-1))


async def test_the_check_finds_a_corrupted_ledger(database: Database) -> None:
    """The checker can fail: an entry written behind the ledger's back breaks four rules."""
    user = await make_user(database, "u")
    async with database.transaction() as session:
        await service.grant_welcome_bonus(session, user, CONFIG)
    async with database.transaction() as session:
        account = (await session.exec(select(WalletAccount).where(WalletAccount.key == f"u{user}:bonus"))).one()
        tid = (
            await session.exec(
                insert(LedgerTransaction)
                .values(kind="forged", amount=1, created_at=account.created_at)
                .returning(col(LedgerTransaction.id))
            )
        ).scalar_one()
        await session.exec(
            insert(LedgerEntry).values(transaction_id=tid, account_id=account.id, amount=1, balance_after=1)
        )
    async with database.session() as session:
        report = await invariants.check(session)
    assert not report.ok
    assert {
        "transaction_unbalanced",
        "transaction_without_entries",
        "ledger_not_zero",
        "balance_not_sum_of_entries",
        "running_balance_wrong",
    } <= set(report.violations)
    assert "BROKEN" in report.describe()


def test_sandbox_webhooks_verify_their_signature() -> None:
    provider = SandboxProvider("secret")
    body = b'{"kind": "topup.confirmed", "ref": "sandbox-topup-1"}'
    event = provider.verify_webhook({"X-Sandbox-Signature": provider.sign(body)}, body)
    assert (event.kind, event.provider_ref) == ("topup.confirmed", "sandbox-topup-1")
    for headers, raw in (
        ({"X-Sandbox-Signature": provider.sign(body)}, body + b" "),  # body changed after signing
        ({"X-Sandbox-Signature": SandboxProvider("other").sign(body)}, body),  # another secret
        ({}, body),  # unsigned
        ({"X-Sandbox-Signature": provider.sign(b"[1]")}, b"[1]"),  # signed, but not an event
    ):
        with pytest.raises(WebhookRejected):
            provider.verify_webhook(headers, raw)
