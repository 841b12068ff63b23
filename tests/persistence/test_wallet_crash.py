"""A process killed (SIGKILL) between the statements of a money movement leaves all of it or
none of it: the killed transaction never commits, so balances, entries and the withdrawal's
state are exactly as before, and every invariant holds. Run at every statement of three
movements, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from persistence.db import Database
from persistence.wallet import invariants, service
from persistence.wallet.models import Withdrawal
from tests.persistence.wallet_support import CARD, CONFIG, PROVIDER, balances, make_user
from tests.sql_support import SqlTarget


class Victims:
    """`wallet_crash_child`: one process that imports the wallet once and forks a victim per
    kill point (a process of its own each, SIGKILLed as before)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.persistence.wallet_crash_child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def run(self, target: SqlTarget, op: str, arg: int, kill_at: int) -> dict[str, Any]:
        """The victim's exit code (-9 when killed), its output, whether it timed out."""
        assert self.process.stdin is not None and self.process.stdout is not None
        asked = {"url": target.url, "schema": target.schema, "op": op, "arg": arg, "kill_at": kill_at}
        self.process.stdin.write(json.dumps(asked) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the victims' process ended (exit code {self.process.wait(10)})"
        answer: dict[str, Any] = json.loads(line)
        assert not answer["timed_out"], answer["output"]
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the end of the kill points: the process exits
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()


@pytest.fixture(scope="module")
def victims() -> Iterator[Victims]:
    """One for the module's tests: its imports are paid once."""
    forker = Victims()
    try:
        yield forker
    finally:
        forker.close()


async def _state(db: Database, user_id: int) -> tuple[dict[str, int], int, list[str]]:
    async with db.session() as session:
        report = await invariants.check(session)
        statuses = [w.status for w in (await session.exec(select(Withdrawal))).all()]
    assert report.ok, report.describe()
    return await balances(db, user_id), report.entries, statuses


@pytest.mark.slow
@pytest.mark.parametrize("op", ["transfer", "approve", "forfeit"])
async def test_a_crash_between_statements_leaves_all_or_nothing(
    database: Database, sql_target: SqlTarget, victims: Victims, op: str
) -> None:
    user = await make_user(database, "victim")
    payer = await make_user(database, "payer")
    async with database.transaction() as session:
        topup, otp = await service.start_topup(session, PROVIDER, CONFIG, payer, 100_000)
    assert topup.id is not None and otp is not None
    async with database.transaction() as session:
        await service.confirm_topup(session, PROVIDER, CONFIG, payer, topup.id, otp)
        await service.pay_for_exam(session, payer, user, 60_000, exam_id=1)
        await service.grant_welcome_bonus(session, user, CONFIG)
        await service.transfer(session, CONFIG, user, 40_000, "main")
        withdrawal = await service.request_withdrawal(session, PROVIDER, CONFIG, user, 20_000, CARD)
    assert withdrawal.id is not None
    arg = withdrawal.id if op == "approve" else user
    before = await _state(database, user)
    kill_at = 1
    while True:
        done = await asyncio.to_thread(victims.run, sql_target, op, arg, kill_at)
        if done["returncode"] == 0:
            break
        assert done["returncode"] == -9, done["output"]
        assert await _state(database, user) == before, f"{op} killed at statement {kill_at} left a part behind"
        kill_at += 1
    assert kill_at >= 4, "the movement should have run several statements before completing"
    after = await _state(database, user)
    assert after != before  # run to the end, all of it is there
    if op == "forfeit":
        assert after[0] == {"main": 0, "bonus": 0, "earnings": 0, "held": 0} and after[2] == ["cancelled"]
    elif op == "approve":
        assert after[2] == ["approved"] and after[0]["held"] == 0
    else:
        assert after[0]["main"] == before[0]["main"] + 8_000
