"""PLATFORM.md "Wallet" against a real server process and Redis, on SQLite and PostgreSQL:
status codes, error codes and fields as written, Idempotency-Key semantics, admin routes; the
ledger's invariants are checked after every test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import update

from persistence.accounts.models import User
from persistence.db import Database
from persistence.wallet import service
from tests.accounts_support import accounts_server, backends, bearer, client, register
from tests.persistence.wallet_support import CARD, assert_invariants
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

ITEM_FIELDS = {"id", "kind", "amount", "balance", "tax", "created_at", "ref"}


@pytest.fixture(scope="module", params=backends())
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with SqlTarget.prepared(request.param, tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def server(target: SqlTarget, tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ServerProcess]:
    with accounts_server(target, tmp_path_factory.mktemp("server"), redis_url) as process:
        yield process


@pytest.fixture
async def db(server: ServerProcess, target: SqlTarget) -> AsyncIterator[Database]:
    """The server's database, seen from the test; every invariant is checked after the test."""
    database = Database(target.url, schema=target.schema)
    try:
        yield database
        await assert_invariants(database)
    finally:
        await database.dispose()


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def signed_up(server: ServerProcess, name: str, **extra: Any) -> tuple[int, dict[str, str]]:
    made = await register(server, f"{name}_{uuid.uuid4().hex[:8]}", **extra)
    return int(made["user"]["id"]), bearer(made["token"])


async def admin(server: ServerProcess, db: Database) -> tuple[int, dict[str, str]]:
    user_id, auth = await signed_up(server, "admin")
    async with db.transaction() as session:
        await session.exec(update(User).where(User.id == user_id).values(role="admin"))  # type: ignore[arg-type]
    return user_id, auth


async def topped_up(http: httpx.AsyncClient, auth: dict[str, str], amount: int) -> dict[str, Any]:
    started = await http.post("/api/wallet/topups", json={"amount": amount}, headers=auth)
    assert started.status_code == 201, started.text
    confirmed = await http.post(
        f"/api/wallet/topups/{started.json()['id']}/confirm",
        json={"otp": started.json()["sandbox_otp"]},
        headers=auth | key(),
    )
    assert confirmed.status_code == 200, confirmed.text
    return dict(confirmed.json())


async def earned(db: Database, server: ServerProcess, owner: int, amount: int) -> None:
    """Earnings arise when someone pays for the owner's exam (the exams area calls this)."""
    payer, payer_auth = await signed_up(server, "payer")
    async with client(server) as http:
        await topped_up(http, payer_auth, amount)
    async with db.transaction() as session:
        await service.pay_for_exam(session, payer, owner, amount, exam_id=1)


async def test_wallet_shows_balances_rates_and_the_welcome_bonus(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "newcomer")
    async with client(server) as http:
        response = await http.get("/api/wallet", headers=auth)
        anonymous = await http.get("/api/wallet")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("main", "bonus", "earnings", "held")} == {
        "main": 0,
        "bonus": 5_000,
        "earnings": 0,
        "held": 0,
    }
    assert body["rates"] == {"to_bonus": 10, "to_main": 20, "withdraw": 5}
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"


async def test_a_referral_credits_the_referrer_once(server: ServerProcess, db: Database) -> None:
    made = await register(server, f"referrer_{uuid.uuid4().hex[:8]}")
    await signed_up(server, "referred", referral=made["user"]["username"])
    async with client(server) as http:
        body = (await http.get("/api/wallet", headers=bearer(made["token"]))).json()
    assert body["bonus"] == 5_000 + 5_000


async def test_topup_with_the_sandbox_code_credits_main_once(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "topper")
    async with client(server) as http:
        started = await http.post("/api/wallet/topups", json={"amount": 50_000}, headers=auth)
        assert started.status_code == 201
        body = started.json()
        assert body["status"] == "otp_sent" and isinstance(body["id"], int) and len(body["sandbox_otp"]) == 6
        url = f"/api/wallet/topups/{body['id']}/confirm"
        missing = await http.post(url, json={"otp": body["sandbox_otp"]}, headers=auth)
        assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_required"
        the_key = key()
        confirmed = await http.post(url, json={"otp": body["sandbox_otp"]}, headers=auth | the_key)
        replayed = await http.post(url, json={"otp": body["sandbox_otp"]}, headers=auth | the_key)
        other_key = await http.post(url, json={"otp": body["sandbox_otp"]}, headers=auth | key())
        mismatch = await http.post(url, json={"otp": "123"}, headers=auth | the_key)
        wallet = (await http.get("/api/wallet", headers=auth)).json()
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert replayed.status_code == 200 and replayed.json() == confirmed.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    assert other_key.status_code == 200 and other_key.json()["status"] == "confirmed"  # confirmed, not credited again
    assert mismatch.status_code == 409 and mismatch.json()["error"]["code"] == "idempotency_mismatch"
    assert wallet["main"] == 50_000


async def test_three_wrong_codes_then_410_expired(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "fumbler")
    async with client(server) as http:
        started = (await http.post("/api/wallet/topups", json={"amount": 10_000}, headers=auth)).json()
        wrong = "000000" if started["sandbox_otp"] != "000000" else "111111"
        url = f"/api/wallet/topups/{started['id']}/confirm"
        answers = [await http.post(url, json={"otp": wrong}, headers=auth | key()) for _ in range(3)]
        after = await http.post(url, json={"otp": started["sandbox_otp"]}, headers=auth | key())
        wallet = (await http.get("/api/wallet", headers=auth)).json()
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(422, "bad_otp")] * 3
    assert [a.json()["error"]["attempts_left"] for a in answers] == [2, 1, 0]
    assert after.status_code == 410 and after.json()["error"]["code"] == "expired"
    assert wallet["main"] == 0


async def test_someone_elses_topup_is_404(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "owner")
    _, thief = await signed_up(server, "thief")
    async with client(server) as http:
        started = (await http.post("/api/wallet/topups", json={"amount": 10_000}, headers=auth)).json()
        stolen = await http.post(
            f"/api/wallet/topups/{started['id']}/confirm", json={"otp": started["sandbox_otp"]}, headers=thief | key()
        )
        nonsense = await http.post("/api/wallet/topups/abc/confirm", json={"otp": "1"}, headers=thief | key())
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "not_found"
    assert nonsense.status_code == 404


@pytest.mark.parametrize("amount", [0, -1, 999, 1.5, "5000", None, 100_000_001])
async def test_bad_amounts_are_422_invalid(server: ServerProcess, db: Database, amount: object) -> None:
    _, auth = await signed_up(server, "bad_amount")
    async with client(server) as http:
        topup = await http.post("/api/wallet/topups", json={"amount": amount}, headers=auth)
        transfer = await http.post("/api/wallet/transfers", json={"amount": amount, "to": "main"}, headers=auth | key())
        withdrawal = await http.post(
            "/api/wallet/withdrawals", json={"amount": amount, "card": CARD}, headers=auth | key()
        )
    for response in (topup, transfer, withdrawal):
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid"


async def test_transfers_tax_10_to_bonus_20_to_main_and_402_when_short(server: ServerProcess, db: Database) -> None:
    owner, auth = await signed_up(server, "author")
    await earned(db, server, owner, 300_000)
    async with client(server) as http:
        to_main = await http.post("/api/wallet/transfers", json={"amount": 100_000, "to": "main"}, headers=auth | key())
        to_bonus = await http.post(
            "/api/wallet/transfers", json={"amount": 100_000, "to": "bonus"}, headers=auth | key()
        )
        short = await http.post("/api/wallet/transfers", json={"amount": 100_001, "to": "main"}, headers=auth | key())
        wrong_to = await http.post("/api/wallet/transfers", json={"amount": 1_000, "to": "card"}, headers=auth | key())
        wallet = (await http.get("/api/wallet", headers=auth)).json()
    assert to_main.status_code == 201 and (to_main.json()["tax"], to_main.json()["credited"]) == (20_000, 80_000)
    assert to_bonus.status_code == 201 and (to_bonus.json()["tax"], to_bonus.json()["credited"]) == (10_000, 90_000)
    assert short.status_code == 402 and short.json()["error"]["code"] == "insufficient_funds"
    assert wrong_to.status_code == 422
    assert (wallet["main"], wallet["bonus"], wallet["earnings"]) == (80_000, 5_000 + 90_000, 100_000)


async def test_withdrawal_held_then_approved_once_by_an_admin(server: ServerProcess, db: Database) -> None:
    user, auth = await signed_up(server, "saver")
    _, boss = await admin(server, db)
    async with client(server) as http:
        await topped_up(http, auth, 100_000)
        made = await http.post("/api/wallet/withdrawals", json={"amount": 100_000, "card": CARD}, headers=auth | key())
        assert made.status_code == 201, made.text
        withdrawal = made.json()
        held = (await http.get("/api/wallet", headers=auth)).json()
        pending = (await http.get("/api/admin/withdrawals?status=pending", headers=boss)).json()
        by_user = await http.post(f"/api/admin/withdrawals/{withdrawal['id']}/approve", headers=auth | key())
        approved = await http.post(f"/api/admin/withdrawals/{withdrawal['id']}/approve", headers=boss | key())
        again = await http.post(f"/api/admin/withdrawals/{withdrawal['id']}/reject", headers=boss | key())
        after = (await http.get("/api/wallet", headers=auth)).json()
        history = (await http.get("/api/wallet/transactions", headers=auth)).json()
    assert withdrawal["status"] == "pending" and (withdrawal["tax"], withdrawal["payout"]) == (5_000, 95_000)
    assert withdrawal["card"] == "•••• 1111" and CARD not in made.text
    assert (held["main"], held["held"]) == (0, 100_000)
    assert withdrawal["id"] in [w["id"] for w in pending["items"]]
    assert by_user.status_code == 403 and by_user.json()["error"]["code"] == "forbidden"
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"
    assert (after["main"], after["held"]) == (0, 0)
    assert [i["kind"] for i in history["items"][:2]] == ["withdrawal_approved", "withdrawal"]
    assert history["items"][0]["tax"] == 5_000
    del user


async def test_rejected_withdrawal_returns_the_hold(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "rejected")
    _, boss = await admin(server, db)
    async with client(server) as http:
        await topped_up(http, auth, 20_000)
        made = (
            await http.post("/api/wallet/withdrawals", json={"amount": 20_000, "card": CARD}, headers=auth | key())
        ).json()
        rejected = await http.post(f"/api/admin/withdrawals/{made['id']}/reject", headers=boss | key())
        bonus_only = await http.post(
            "/api/wallet/withdrawals", json={"amount": 25_000, "card": CARD}, headers=auth | key()
        )
        bad_card = await http.post(
            "/api/wallet/withdrawals", json={"amount": 1_000, "card": "1234"}, headers=auth | key()
        )
        wallet = (await http.get("/api/wallet", headers=auth)).json()
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert bonus_only.status_code == 402  # 20,000 main + 5,000 bonus: bonus is never withdrawable
    assert bad_card.status_code == 422
    assert (wallet["main"], wallet["held"], wallet["bonus"]) == (20_000, 0, 5_000)


async def test_admin_bonus_and_ledger(server: ServerProcess, db: Database) -> None:
    user, auth = await signed_up(server, "lucky")
    _, boss = await admin(server, db)
    async with client(server) as http:
        granted = await http.post(
            f"/api/admin/users/{user}/bonus", json={"amount": 7_000, "reason": "contest"}, headers=boss | key()
        )
        by_user = await http.post(
            f"/api/admin/users/{user}/bonus", json={"amount": 7_000, "reason": "me"}, headers=auth | key()
        )
        no_reason = await http.post(f"/api/admin/users/{user}/bonus", json={"amount": 7_000}, headers=boss | key())
        nobody = await http.post(
            "/api/admin/users/999999/bonus", json={"amount": 7_000, "reason": "x"}, headers=boss | key()
        )
        ledger = await http.get(f"/api/admin/users/{user}/wallet", headers=boss)
        audit = (await http.get(f"/api/admin/audit?user={user}", headers=boss)).json()
    assert granted.status_code == 201 and granted.json()["balance"]["bonus"] == 5_000 + 7_000
    assert by_user.status_code == 403 and no_reason.status_code == 422 and nobody.status_code == 404
    assert ledger.status_code == 200 and [i["kind"] for i in ledger.json()["items"]] == ["admin_bonus", "welcome_bonus"]
    assert ledger.json()["items"][0]["memo"] == "contest"
    assert "wallet.bonus" in [entry["action"] for entry in audit["items"]]


async def test_transactions_are_paged_with_the_contract_fields(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "pager")
    async with client(server) as http:
        for amount in (1_000, 2_000, 3_000):
            await topped_up(http, auth, amount)
        first = (await http.get("/api/wallet/transactions?limit=2", headers=auth)).json()
        second = (
            await http.get(f"/api/wallet/transactions?limit=2&cursor={first['next_cursor']}", headers=auth)
        ).json()
        bad = await http.get("/api/wallet/transactions?limit=0", headers=auth)
    assert [i["amount"] for i in first["items"] + second["items"]] == [3_000, 2_000, 1_000, 5_000]
    assert all(ITEM_FIELDS <= set(item) for item in first["items"])
    assert first["items"][0]["balance"]["main"] == 6_000 and first["items"][0]["changes"] == {"main": 3_000}
    async with client(server) as http:  # a full page may be the last: the next one is empty, with no cursor
        third = (
            await http.get(f"/api/wallet/transactions?limit=2&cursor={second['next_cursor']}", headers=auth)
        ).json()
    assert third == {"items": [], "next_cursor": None}
    assert bad.status_code == 422


async def test_one_key_sent_20_times_at_once_moves_once(server: ServerProcess, db: Database) -> None:
    owner, auth = await signed_up(server, "racer")
    await earned(db, server, owner, 50_000)
    the_key = key()
    async with client(server) as http:
        answers = await asyncio.gather(
            *(
                http.post("/api/wallet/transfers", json={"amount": 10_000, "to": "main"}, headers=auth | the_key)
                for _ in range(20)
            )
        )
        wallet = (await http.get("/api/wallet", headers=auth)).json()
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["transaction_id"] for a in answers}) == 1
    assert (wallet["earnings"], wallet["main"]) == (40_000, 8_000)


async def test_a_cookie_write_without_csrf_is_refused(server: ServerProcess, db: Database) -> None:
    made = await register(server, f"cookie_{uuid.uuid4().hex[:8]}")
    async with client(server) as http:
        login = await http.post("/api/auth/login", json={"login": made["user"]["username"], "password": "password 12"})
        assert login.status_code == 200
        without = await http.post("/api/wallet/topups", json={"amount": 5_000}, headers=key())
        with_csrf = await http.post(
            "/api/wallet/topups", json={"amount": 5_000}, headers=key() | {"X-CSRF-Token": login.json()["csrf"]}
        )
    assert without.status_code == 403 and without.json()["error"]["code"] == "csrf"
    assert with_csrf.status_code == 201


async def test_deleting_the_account_forfeits_its_balances(server: ServerProcess, db: Database) -> None:
    user, auth = await signed_up(server, "leaver")
    async with client(server) as http:
        await topped_up(http, auth, 9_000)
        gone = await http.request("DELETE", "/api/me", json={"password": "password 12"}, headers=auth)
        exported_after = await http.get("/api/wallet", headers=auth)
    assert gone.status_code == 204
    assert exported_after.status_code == 401
    from tests.persistence.wallet_support import balances

    assert await balances(db, user) == {"main": 0, "bonus": 0, "earnings": 0, "held": 0}


async def test_the_data_export_lists_wallet_transactions(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "exporter")
    async with client(server) as http:
        await topped_up(http, auth, 4_000)
        exported = await http.get("/api/me/export", headers=auth)
    assert exported.status_code == 200
    kinds = [item["kind"] for item in exported.json()["wallet_transactions"]]
    assert kinds == ["topup", "welcome_bonus"]


async def test_approve_and_reject_sent_at_once_one_wins(server: ServerProcess, db: Database) -> None:
    _, auth = await signed_up(server, "racer_w")
    _, boss = await admin(server, db)
    async with client(server) as http:
        await topped_up(http, auth, 30_000)
        made = [
            (
                await http.post("/api/wallet/withdrawals", json={"amount": 10_000, "card": CARD}, headers=auth | key())
            ).json()
            for _ in range(3)
        ]
        for withdrawal in made:
            answers = await asyncio.gather(
                *(
                    http.post(f"/api/admin/withdrawals/{withdrawal['id']}/{action}", headers=boss | key())
                    for action in ("approve", "reject", "approve", "reject")
                )
            )
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 409, 409, 409], [a.text for a in answers]
        wallet = (await http.get("/api/wallet", headers=auth)).json()
    assert wallet["held"] == 0
