"""The wallet part of `/openapi.json` as a signed-in client uses it: top-up, confirm (wrong and
right code), balances, history, a refused transfer, a withdrawal and its approval by an admin,
a bonus and a user's ledger; every answer validated against the served document (status
listed, body matching its schema). SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlmodel import update

from persistence.accounts.models import User
from persistence.db import Database
from tests.accounts_support import accounts_server, bearer, register
from tests.persistence.wallet_support import CARD
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> SqlTarget:
    return SqlTarget("sqlite", url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sql') / 'wallet.db'}")


@pytest.fixture(scope="module")
def server(target: SqlTarget, tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ServerProcess]:
    with accounts_server(target, tmp_path_factory.mktemp("server"), redis_url) as process:
        yield process


class Validated:
    def __init__(self, server: ServerProcess, token: str) -> None:
        self.schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        self.base_url = server.base_url
        self.headers = bearer(token)

    def __call__(self, method: str, path: str, body: Any = None, *, key: bool = False, **path_parameters: Any) -> Any:
        headers = self.headers | ({"Idempotency-Key": uuid.uuid4().hex} if key else {})
        kwargs: dict[str, Any] = {"path_parameters": path_parameters, "headers": headers}
        if body is not None:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        case = self.schema[path][method].Case(**kwargs)
        return case.call_and_validate(base_url=self.base_url, checks=CHECKS)


async def test_the_wallet_answers_as_documented(server: ServerProcess, target: SqlTarget, tmp_path: Path) -> None:
    user = await register(server, f"doc_{uuid.uuid4().hex[:6]}")
    boss = await register(server, f"boss_{uuid.uuid4().hex[:6]}")
    db = Database(target.url)
    try:
        async with db.transaction() as session:
            await session.exec(update(User).where(User.id == boss["user"]["id"]).values(role="admin"))
    finally:
        await db.dispose()
    me, admin = Validated(server, user["token"]), Validated(server, boss["token"])

    assert me("GET", "/api/wallet").json()["bonus"] == 5_000
    started = me("POST", "/api/wallet/topups", {"amount": 30_000}).json()
    wrong = "000000" if started["sandbox_otp"] != "000000" else "111111"
    assert (
        me(
            "POST", "/api/wallet/topups/{topup_id}/confirm", {"otp": wrong}, key=True, topup_id=started["id"]
        ).status_code
        == 422
    )
    assert (
        me(
            "POST",
            "/api/wallet/topups/{topup_id}/confirm",
            {"otp": started["sandbox_otp"]},
            key=True,
            topup_id=started["id"],
        ).json()["balance"]["main"]
        == 30_000
    )
    assert me("POST", "/api/wallet/transfers", {"amount": 1_000, "to": "main"}, key=True).status_code == 402
    assert me("POST", "/api/wallet/transfers", {"amount": 1_000, "to": "main"}).status_code == 400
    held = me("POST", "/api/wallet/withdrawals", {"amount": 20_000, "card": CARD}, key=True).json()
    assert held["balance"]["held"] == 20_000
    assert me("GET", "/api/wallet/withdrawals").json()["items"][0]["id"] == held["id"]
    assert me("GET", "/api/wallet/transactions").json()["items"][0]["kind"] == "withdrawal"
    assert admin("GET", "/api/admin/withdrawals").json()["items"][0]["id"] == held["id"]
    assert (
        me("POST", "/api/admin/withdrawals/{withdrawal_id}/approve", key=True, withdrawal_id=held["id"]).status_code
        == 403
    )
    assert (
        admin("POST", "/api/admin/withdrawals/{withdrawal_id}/approve", key=True, withdrawal_id=held["id"]).json()[
            "status"
        ]
        == "approved"
    )
    assert (
        admin("POST", "/api/admin/withdrawals/{withdrawal_id}/reject", key=True, withdrawal_id=held["id"]).status_code
        == 409
    )
    assert (
        admin(
            "POST",
            "/api/admin/users/{user_id}/bonus",
            {"amount": 2_000, "reason": "docs"},
            key=True,
            user_id=user["user"]["id"],
        ).status_code
        == 201
    )
    ledger = admin("GET", "/api/admin/users/{user_id}/wallet", user_id=user["user"]["id"]).json()
    assert [item["kind"] for item in ledger["items"]][:2] == ["admin_bonus", "withdrawal_approved"]
