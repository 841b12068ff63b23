"""Movements racing each other through separate connections, on SQLite and PostgreSQL: the
locks of ledger.py let exactly the affordable ones through, a withdrawal is decided once, and
one idempotency key moves money once however many requests carry it at the same moment."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from sqlmodel import func, select

from persistence.accounts.models import User
from persistence.db import Database
from persistence.types import utcnow
from persistence.wallet import service
from persistence.wallet.errors import WalletError
from persistence.wallet.idempotency import Outcome, fingerprint, run_once
from persistence.wallet.models import LedgerTransaction
from tests.persistence.wallet_support import CARD, CONFIG, PROVIDER, balances, make_user, wallet_db
from tests.sql_support import SqlTarget

__all__ = ["wallet_db"]


async def _topup(db: Database, user_id: int, amount: int) -> None:
    async with db.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user_id, amount)
    assert topup.id is not None and otp is not None
    async with db.transaction() as session:
        await service.confirm_topup(session, PROVIDER, CONFIG, user_id, topup.id, otp)


async def _transactions(db: Database, kind: str) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).where(LedgerTransaction.kind == kind))).one())


async def test_200_concurrent_payments_against_a_balance_for_50(wallet_db: Database) -> None:
    payer, owner = await make_user(wallet_db, "payer"), await make_user(wallet_db, "owner")
    await _topup(wallet_db, payer, 50 * 1_000)

    async def pay() -> str:
        try:
            async with wallet_db.transaction() as session:
                await service.pay_for_exam(session, payer, owner, 1_000, exam_id=1)
        except WalletError as refused:
            return refused.code
        return "paid"

    outcomes = await asyncio.gather(*(pay() for _ in range(200)))
    assert outcomes.count("paid") == 50
    assert outcomes.count("insufficient_funds") == 150
    assert await balances(wallet_db, payer) == {"main": 0, "bonus": 0, "earnings": 0, "held": 0}
    assert (await balances(wallet_db, owner))["earnings"] == 50_000
    assert await _transactions(wallet_db, "payment") == 50


async def test_concurrent_approve_and_reject_exactly_one_wins(wallet_db: Database) -> None:
    user, admin = await make_user(wallet_db, "u"), await make_user(wallet_db, "boss", "admin")
    await _topup(wallet_db, user, 10 * 5_000)
    winners = []
    for _ in range(10):
        async with wallet_db.transaction() as session:
            withdrawal = await service.request_withdrawal(session, PROVIDER, CONFIG, user, 5_000, CARD)
        assert withdrawal.id is not None
        withdrawal_id = withdrawal.id

        async def decide(approve: bool, withdrawal_id: int = withdrawal_id) -> str:
            try:
                async with wallet_db.transaction() as session:
                    decided = await service.decide_withdrawal(session, PROVIDER, admin, withdrawal_id, approve)
            except WalletError as refused:
                return refused.code
            return decided.status

        outcomes = sorted(await asyncio.gather(decide(True), decide(False), decide(True), decide(False)))
        assert outcomes.count("already_decided") == 3, outcomes
        winners.append(next(o for o in outcomes if o != "already_decided"))
    approved = winners.count("approved")
    assert await balances(wallet_db, user) == {"main": (10 - approved) * 5_000, "bonus": 0, "earnings": 0, "held": 0}
    assert (
        await _transactions(wallet_db, "withdrawal_approved") + await _transactions(wallet_db, "withdrawal_rejected")
        == 10
    )


async def test_one_idempotency_key_sent_20_times_at_once_moves_once(wallet_db: Database) -> None:
    user, owner = await make_user(wallet_db, "u"), await make_user(wallet_db, "owner")
    payer = await make_user(wallet_db, "payer")
    await _topup(wallet_db, payer, 100_000)
    async with wallet_db.transaction() as session:
        await service.pay_for_exam(session, payer, user, 100_000, exam_id=1)  # user earns 100,000
    body = {"amount": 10_000, "to": "main"}
    print_ = fingerprint("POST", "/api/wallet/transfers", body)

    async def transfer(session: object) -> Outcome:
        result = await service.transfer(session, CONFIG, user, 10_000, "main")  # type: ignore[arg-type]
        return Outcome(201, result)

    outcomes = await asyncio.gather(*(run_once(wallet_db, user, "key-1", print_, transfer) for _ in range(20)))
    assert {o.status for o in outcomes} == {201}
    assert len({str(o.body) for o in outcomes}) == 1  # every caller sees the first answer
    assert sum(not o.replayed for o in outcomes) == 1
    assert await _transactions(wallet_db, "transfer_to_main") == 1
    assert await balances(wallet_db, user) == {"main": 8_000, "bonus": 0, "earnings": 90_000, "held": 0}
    del owner


async def test_a_key_replays_refusals_and_refuses_another_body(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "u")
    body = {"amount": 5_000, "to": "bonus"}

    async def transfer(session: object) -> Outcome:
        return Outcome(201, await service.transfer(session, CONFIG, user, 5_000, "bonus"))  # type: ignore[arg-type]

    first = await run_once(wallet_db, user, "k", fingerprint("POST", "/api/wallet/transfers", body), transfer)
    assert first.status == 402 and first.body["error"]["code"] == "insufficient_funds"
    again = await run_once(wallet_db, user, "k", fingerprint("POST", "/api/wallet/transfers", body), transfer)
    assert (again.status, again.body, again.replayed) == (402, first.body, True)
    try:
        await run_once(
            wallet_db,
            user,
            "k",
            fingerprint("POST", "/api/wallet/transfers", {"amount": 5_001, "to": "bonus"}),
            transfer,
        )
    except WalletError as refused:
        assert (refused.status, refused.code) == (409, "idempotency_mismatch")
    else:
        raise AssertionError("another body under the same key must be refused")
    other_user = await make_user(wallet_db, "other")  # keys are per user: the same key is fresh for another

    async def nothing(session: object) -> Outcome:
        return Outcome(200, {"ok": True})

    assert (await run_once(wallet_db, other_user, "k", "x" * 64, nothing)).replayed is False


def _racer(target: SqlTarget, payer: int, owner: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.persistence.wallet_race_child",
            target.url,
            target.schema or "",
            str(payer),
            str(owner),
            str(count),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_200_payments_from_4_processes_against_a_balance_for_50(
    wallet_db: Database, sql_target: SqlTarget
) -> None:
    """The same race across processes (each with its own engine and connections): the locks are
    the database's, not this process's."""
    payer, owner = await make_user(wallet_db, "payer"), await make_user(wallet_db, "owner")
    await _topup(wallet_db, payer, 50 * 1_000)
    racers = [_racer(sql_target, payer, owner, 50) for _ in range(4)]
    outputs = [await asyncio.to_thread(racer.communicate, timeout=120) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    assert sum(paid for paid, _ in counts) == 50
    assert sum(refused for _, refused in counts) == 150
    assert await balances(wallet_db, payer) == {"main": 0, "bonus": 0, "earnings": 0, "held": 0}
    assert (await balances(wallet_db, owner))["earnings"] == 50_000


async def test_payments_racing_the_owners_account_deletion_never_credit_a_deleted_account(wallet_db: Database) -> None:
    """A payment that read the owner as live before the deletion committed waits on the lock,
    then finds the owner deleted and is refused: nothing lands on a forfeited account."""
    payer = await make_user(wallet_db, "payer")
    await _topup(wallet_db, payer, 100_000)
    for round_ in range(5):
        owner = await make_user(wallet_db, f"owner{round_}")

        async def pay(owner: int = owner) -> str:
            try:
                async with wallet_db.transaction() as session:
                    await service.pay_for_exam(session, payer, owner, 1_000, exam_id=1)
            except WalletError as refused:
                return refused.code
            return "paid"

        async def delete(owner: int = owner) -> str:
            async with wallet_db.transaction() as session:
                person = await session.get(User, owner)
                assert person is not None
                person.username, person.deleted_at = None, utcnow()
                await session.flush()
                await service.forfeit_balances(session, owner)
            return "deleted"

        outcomes = await asyncio.gather(*(pay() for _ in range(8)), delete(), *(pay() for _ in range(8)))
        assert set(outcomes) <= {"paid", "deleted", "owner_deleted", "user_deleted"}, outcomes
        assert await balances(wallet_db, owner) == {"main": 0, "bonus": 0, "earnings": 0, "held": 0}


async def test_a_deleted_account_takes_no_topup(wallet_db: Database) -> None:
    user = await make_user(wallet_db, "leaver")
    async with wallet_db.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user, 10_000)
    assert topup.id is not None and otp is not None
    async with wallet_db.transaction() as session:
        person = await session.get(User, user)
        assert person is not None
        person.deleted_at = utcnow()
        await session.flush()
        await service.forfeit_balances(session, user)
    try:
        async with wallet_db.transaction() as session:
            await service.confirm_topup(session, PROVIDER, CONFIG, user, topup.id, otp)
    except WalletError as refused:
        assert (refused.status, refused.code) == (409, "user_deleted")
    else:
        raise AssertionError("a deleted account's top-up must not be credited")
    assert (await balances(wallet_db, user))["main"] == 0


async def test_a_payer_deleting_their_account_while_paying_neither_deadlocks_nor_keeps_money(
    wallet_db: Database,
) -> None:
    """The deletion locks the user row, then the accounts; a movement takes the user rows
    first too (FOR KEY SHARE), so the two queue instead of deadlocking."""
    owner = await make_user(wallet_db, "owner")
    for round_ in range(5):
        payer = await make_user(wallet_db, f"payer{round_}")
        await _topup(wallet_db, payer, 20_000)

        async def pay(payer: int = payer) -> str:
            try:
                async with wallet_db.transaction() as session:
                    await service.pay_for_exam(session, payer, owner, 1_000, exam_id=1)
            except WalletError as refused:
                return refused.code
            return "paid"

        async def delete(payer: int = payer) -> str:
            async with wallet_db.transaction() as session:
                person = await session.get(User, payer)
                assert person is not None
                person.username, person.deleted_at = None, utcnow()
                await session.flush()
                await service.forfeit_balances(session, payer)
            return "deleted"

        outcomes = await asyncio.gather(*(pay() for _ in range(6)), delete(), *(pay() for _ in range(6)))
        assert set(outcomes) <= {"paid", "deleted", "user_deleted"}, outcomes
        assert await balances(wallet_db, payer) == {"main": 0, "bonus": 0, "earnings": 0, "held": 0}
