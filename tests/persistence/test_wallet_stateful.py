"""Hypothesis drives random sequences of wallet movements — registrations with welcome and
referral bonuses, top-ups (right and wrong codes), payments, transfers, withdrawals, approvals,
rejections, admin bonuses, retries under the same idempotency key and account deletions — and
after every step checks every ledger invariant and that each user's four balances equal a
plain Python model of the rules. On SQLite and PostgreSQL.

The database is migrated once per test and rewound before each example (`tests/sql_rewind`):
every example starts from an empty, freshly migrated ledger with ids from 1, as if on a new
database, without paying for the migrations thirty times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts.models import User
from persistence.db import Database
from persistence.types import utcnow
from persistence.wallet import invariants, queries, service
from persistence.wallet.errors import WalletError
from persistence.wallet.idempotency import Outcome, fingerprint, run_once
from persistence.wallet.models import WalletAccount
from persistence.wallet.money import tax_of
from tests.persistence.wallet_support import CARD, CONFIG, PROVIDER
from tests.sql_rewind import Migrated, remember, rewind
from tests.sql_support import SqlTarget

T = TypeVar("T")
AMOUNTS = st.integers(1_000, 40_000)
KINDS = ("main", "bonus", "earnings", "held")


@dataclass
class Model:
    balances: dict[int, dict[str, int]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    pending: dict[int, tuple[int, int]] = field(default_factory=dict)  # withdrawal → (user, amount)
    answers: dict[tuple[int, str], tuple[dict[str, Any], Outcome]] = field(default_factory=dict)

    def live(self) -> list[int]:
        return sorted(u for u in self.balances if u not in self.deleted)


def machine_for(
    db: Database, migrated: Migrated, loop: asyncio.AbstractEventLoop, reader: AsyncConnection
) -> type[RuleBasedStateMachine]:
    """The machine on `db` (migrated, as `migrated` notes), whose connections live on `loop`;
    it checks the ledger after each step through `reader`, an autocommit connection of `db`."""

    class WalletMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop, self.db = loop, db
            # As on a new database per example: the same steps give the same ids and answers
            # when Hypothesis replays and shrinks a failure.
            self.run(rewind(db, migrated))
            self.model = Model()
            self.serial = 0

        def run(self, coroutine: Awaitable[T]) -> T:
            return self.loop.run_until_complete(coroutine)

        async def _new_user(self, referrer: int | None) -> int:
            self.serial += 1
            async with self.db.transaction() as session:
                user = User(first_name=f"m{self.serial}", referred_by=referrer)
                session.add(user)
                await session.flush()
                assert user.id is not None
                await service.grant_welcome_bonus(session, user.id, CONFIG)
                if referrer is not None:
                    await service.grant_referral_bonus(session, referrer, user.id, CONFIG)
                return user.id

        def pick(self, index: int) -> int:
            live = self.model.live()
            return live[index % len(live)]

        @initialize()
        def first_users(self) -> None:
            for _ in range(2):
                self.register(None)

        @rule(referrer=st.none() | st.integers(0, 50))
        def register(self, referrer: int | None) -> None:
            referrer_id = self.pick(referrer) if referrer is not None and self.model.live() else None
            user = self.run(self._new_user(referrer_id))
            self.model.balances[user] = {"main": 0, "bonus": CONFIG.welcome_bonus, "earnings": 0, "held": 0}
            if referrer_id is not None:
                self.model.balances[referrer_id]["bonus"] += CONFIG.referral_bonus

        @rule(who=st.integers(0, 50), amount=AMOUNTS, wrong_codes=st.integers(0, 3))
        def topup(self, who: int, amount: int, wrong_codes: int) -> None:
            user = self.pick(who)

            async def go() -> bool:
                async with self.db.transaction() as session:
                    topup, otp = await service.start_topup(session, PROVIDER, CONFIG, user, amount)
                assert topup.id is not None and otp is not None
                wrong = "x" + otp[1:]
                for _ in range(wrong_codes):
                    async with self.db.transaction() as session:
                        refused = await service.confirm_topup(session, PROVIDER, CONFIG, user, topup.id, wrong)
                    assert refused.refusal is not None and refused.refusal.code == "bad_otp"
                try:
                    async with self.db.transaction() as session:
                        await service.confirm_topup(session, PROVIDER, CONFIG, user, topup.id, otp)
                except WalletError as expired:
                    assert expired.code == "expired" and wrong_codes >= CONFIG.otp_attempts
                    return False
                assert wrong_codes < CONFIG.otp_attempts
                return True

            if self.run(go()):
                self.model.balances[user]["main"] += amount

        @rule(payer=st.integers(0, 50), owner=st.integers(0, 50), price=AMOUNTS)
        def pay(self, payer: int, owner: int, price: int) -> None:
            payer_id, owner_id = self.pick(payer), self.pick(owner)
            wallet = self.model.balances[payer_id]

            async def go() -> None:
                async with self.db.transaction() as session:
                    await service.pay_for_exam(session, payer_id, owner_id, price, exam_id=1)

            if wallet["bonus"] + wallet["main"] < price:
                with pytest.raises(WalletError, match="so'm"):
                    self.run(go())
                return
            self.run(go())
            from_bonus = min(price, wallet["bonus"])
            wallet["bonus"] -= from_bonus
            wallet["main"] -= price - from_bonus
            self.model.balances[owner_id]["earnings"] += price

        def _keyed(self, user: int, key: str, body: dict[str, Any], path: str, op: Any) -> Outcome:
            async def operation(session: Any) -> Outcome:
                return Outcome(201, await op(session))

            return self.run(run_once(self.db, user, key, fingerprint("POST", path, body), operation))

        @rule(who=st.integers(0, 50), amount=AMOUNTS, to=st.sampled_from(["bonus", "main"]))
        def transfer(self, who: int, amount: int, to: str) -> None:
            user = self.pick(who)
            self.serial += 1
            key, body = f"t{self.serial}", {"amount": amount, "to": to}
            outcome = self._keyed(
                user, key, body, "/api/wallet/transfers", lambda s: service.transfer(s, CONFIG, user, amount, to)
            )
            wallet = self.model.balances[user]
            if wallet["earnings"] < amount:
                assert outcome.status == 402
            else:
                assert outcome.status == 201
                tax = tax_of(amount, CONFIG.rates.to_bonus if to == "bonus" else CONFIG.rates.to_main)
                wallet["earnings"] -= amount
                wallet[to] += amount - tax
            self.model.answers[(user, key)] = ({"path": "/api/wallet/transfers", **body}, outcome)

        @rule(who=st.integers(0, 50), amount=AMOUNTS)
        def withdraw(self, who: int, amount: int) -> None:
            user = self.pick(who)
            self.serial += 1
            key, body = f"w{self.serial}", {"amount": amount, "card": CARD}

            async def op(session: Any) -> dict[str, Any]:
                withdrawal = await service.request_withdrawal(session, PROVIDER, CONFIG, user, amount, CARD)
                return queries.withdrawal_public(withdrawal)

            outcome = self._keyed(user, key, body, "/api/wallet/withdrawals", op)
            wallet = self.model.balances[user]
            if wallet["main"] < amount:
                assert outcome.status == 402
            else:
                assert outcome.status == 201
                wallet["main"] -= amount
                wallet["held"] += amount
                self.model.pending[outcome.body["id"]] = (user, amount)
            self.model.answers[(user, key)] = ({"path": "/api/wallet/withdrawals", **body}, outcome)

        @precondition(lambda self: bool(self.model.pending))
        @rule(which=st.integers(0, 50), approve=st.booleans(), twice=st.booleans())
        def decide(self, which: int, approve: bool, twice: bool) -> None:
            withdrawal_id = sorted(self.model.pending)[which % len(self.model.pending)]
            user, amount = self.model.pending.pop(withdrawal_id)
            admin = self.model.live()[0]

            async def go() -> None:
                async with self.db.transaction() as session:
                    await service.decide_withdrawal(session, PROVIDER, admin, withdrawal_id, approve)

            self.run(go())
            self.model.balances[user]["held"] -= amount
            if not approve:
                self.model.balances[user]["main"] += amount
            if twice:
                with pytest.raises(WalletError, match="already"):
                    self.run(go())

        @precondition(lambda self: bool(self.model.answers))
        @rule(which=st.integers(0, 500))
        def retry(self, which: int) -> None:
            """The same key and body again: the first answer, nothing moved."""
            (user, key), (body, first) = sorted(self.model.answers.items())[which % len(self.model.answers)]
            if user in self.model.deleted:
                return
            path = body.pop("path")
            again = self._keyed(user, key, body, path, lambda s: (_ for _ in ()).throw(AssertionError("ran twice")))
            body["path"] = path
            assert (again.status, again.body, again.replayed) == (first.status, first.body, True)

        @rule(who=st.integers(0, 50), amount=AMOUNTS)
        def admin_bonus(self, who: int, amount: int) -> None:
            user = self.pick(who)

            async def go() -> None:
                async with self.db.transaction() as session:
                    await service.grant_admin_bonus(session, self.model.live()[0], user, amount, "stateful")

            self.run(go())
            self.model.balances[user]["bonus"] += amount

        @precondition(lambda self: len(self.model.live()) > 2)
        @rule(who=st.integers(0, 50))
        def delete_account(self, who: int) -> None:
            user = self.pick(who)

            async def go() -> None:
                async with self.db.transaction() as session:
                    await service.forfeit_balances(session, user)
                    person = await session.get(User, user)
                    assert person is not None
                    person.first_name, person.deleted_at = None, utcnow()

            self.run(go())
            self.model.balances[user] = dict.fromkeys(KINDS, 0)
            self.model.deleted.add(user)
            self.model.pending = {w: (u, a) for w, (u, a) in self.model.pending.items() if u != user}

        @invariant()
        def ledger_holds_and_matches_the_model(self) -> None:
            async def go() -> tuple[invariants.Report, list[tuple[int | None, str, int | None]]]:
                # On a connection held open in autocommit, so no checkout, ping, BEGIN or ROLLBACK
                # around the two reads on every step; each read sees every step committed before it.
                async with AsyncSession(reader) as session:
                    report = await invariants.check(session)
                    # Everyone's balances in one query, not one per user: this runs after every step.
                    accounts = await session.exec(
                        select(WalletAccount.user_id, WalletAccount.kind, WalletAccount.balance).where(
                            col(WalletAccount.user_id).is_not(None)
                        )
                    )
                    return report, list(accounts.all())

            report, accounts = self.run(go())
            assert report.ok, report.describe()
            found = {user: dict.fromkeys(KINDS, 0) for user in self.model.balances}
            for user, kind, balance in accounts:
                assert user in found, f"user {user} has a {kind} account but no step registered them"
                found[user][kind] = int(balance or 0)
            assert found == self.model.balances

    return WalletMachine


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_random_sequences_keep_every_invariant(sql_target: SqlTarget) -> None:
    loop = asyncio.new_event_loop()
    db = Database(sql_target.url, schema=sql_target.schema)  # the fixture drops the schema or file
    try:
        loop.run_until_complete(db.upgrade())
        migrated = loop.run_until_complete(remember(db))
        reader = loop.run_until_complete(db.engine.connect())
        try:
            loop.run_until_complete(reader.execution_options(isolation_level="AUTOCOMMIT"))
            run_state_machine_as_test(
                machine_for(db, migrated, loop, reader),
                settings=settings(
                    max_examples=30,
                    stateful_step_count=30,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                ),
            )
        finally:
            loop.run_until_complete(reader.close())
    finally:
        loop.run_until_complete(db.dispose())
        loop.close()
