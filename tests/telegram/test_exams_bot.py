"""Solo exams in a private chat with the bot, against the fake Bot API and the real app (its
Redis and its SQLite database): /exams lists only what the 000 §10 table opens to the bot,
/take and /a run an attempt to its score, a trainer answers at once, a linked account takes
the exam as itself, groups are refused, and the exam's owner sees the attempts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from persistence.accounts import tokens
from persistence.accounts.models import User
from persistence.wallet.queries import balances
from persistence.wallet.service import grant_admin_bonus
from tests.fakes import FakeTelegram
from tests.telegram.support import GROUP, LiveServer, live_server, make_settings, wait_until

EXAM = {
    "title": "Bot <exam>",
    "show_in_bot": True,
    "pass_percent": 60,
    "questions": [
        {"type": "select_one", "text": "2 + 2?", "options": ["3", "4"], "correct": 1},
        {"type": "select_many", "text": "Even?", "options": ["2", "3", "4"], "correct": [0, 2]},
        {"type": "text", "text": "Say yes", "accepted": ["yes"]},
    ],
}

# Exams the bot never lists for an account-less user (by the table, or paid).
HIDDEN: list[tuple[str, dict[str, Any]]] = [
    ("Not on the bot", {"show_in_bot": False}),
    ("Proctored", {"proctoring": {"camera": True}}),
    ("Paid", {"price": 5000}),
    ("Inactive", {"active": False}),
]


async def owner_token(server: LiveServer, username: str, telegram_id: int | None = None) -> tuple[int, str]:
    db = server.live.db
    assert db is not None
    async with db.transaction() as session:
        user = User(username=username, first_name=username, telegram_id=telegram_id)
        session.add(user)
        await session.flush()
        assert user.id is not None
        return user.id, (await tokens.issue(session, user.id, "api")).token


def texts(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [m.text or "" for m in tg.messages(chat_id, bot_only=True)]


async def say(tg: FakeTelegram, chat: int, user: Any, text: str, expect: str) -> str:
    before = len(texts(tg, chat))
    tg.send_text(chat, user, text)
    found = await wait_until(
        lambda: next((t for t in texts(tg, chat)[before:] if expect in t), None), what=f"reply to {text!r}"
    )
    return str(found)


async def test_an_exam_taken_in_a_private_chat(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram() as tg, live_server(lambda port: make_settings(tg, redis_url, tmp_path)) as server:
        owner_id, token = await owner_token(server, "setter")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            exam_id = (await http.post("/api/exams", json=EXAM)).json()["id"]
            hidden = [
                (await http.post("/api/exams", json=EXAM | {"title": title, **settings})).json()["id"]
                for title, settings in HIDDEN
            ]
            trainer_id = (await http.post("/api/exams", json=EXAM | {"title": "Drill", "mode": "trainer"})).json()["id"]
        ali = tg.user(501, "Ali")
        listing = await say(tg, 501, ali, "/exams", "Exams you may take here")
        assert f"/take {exam_id} — Bot <exam> (3 questions)" in listing
        assert all(f"/take {hidden_id} " not in listing for hidden_id in hidden), listing
        refused = await say(tg, 501, ali, f"/take {hidden[1]}", "cannot be taken here")
        assert "cannot be taken here" in refused

        first = await say(tg, 501, ali, f"/take {exam_id}", "Question 1 of 3")
        assert "2 + 2?" in first and "1) 3" in first and "2) 4" in first
        await say(tg, 501, ali, f"/take {exam_id}", "already taking this exam")
        await say(tg, 501, ali, "/a seven", "did not understand")
        await say(tg, 501, ali, "/a 2", "Question 2 of 3")
        await say(tg, 501, ali, "/a 1 3", "Question 3 of 3")
        result = await say(tg, 501, ali, "/a  YES ", "Result:")
        assert "3 / 3 (100.0%). Passed." in result

        # In a group: refused, nothing started.
        await say(tg, GROUP, ali, "/exams", "private chat")

        # A trainer says at once whether an answer was right.
        await say(tg, 501, ali, f"/take {trainer_id}", "Question 1 of 3")
        feedback = await say(tg, 501, ali, "/a 1", "Wrong")
        assert "The right answer:" in feedback and "Question 2 of 3" in feedback
        stopped = await say(tg, 501, ali, "/finish", "Result:")
        assert "Not passed" in stopped

        # A linked account takes the exam as itself, and sees paid exams listed.
        linked_id, _ = await owner_token(server, "bela", telegram_id=502)
        bela = tg.user(502, "Bela")
        listed = await say(tg, 502, bela, "/exams", "Exams you may take here")
        assert f"/take {hidden[2]} " in listed and "5,000 so'm" in listed
        await say(tg, 502, bela, f"/take {hidden[2]}", "costs 5,000 so'm, taken from your balance")
        await say(tg, 502, bela, f"/pay {hidden[2]}", "balance is too low")
        db = server.live.db
        assert db is not None
        async with db.transaction() as session:
            await grant_admin_bonus(session, owner_id, linked_id, 8000, "test")
        await say(tg, 502, bela, f"/pay {hidden[2]}", "Question 1 of 3")
        again = await say(tg, 502, bela, f"/pay {hidden[2]}", "paid for this attempt already")
        assert "Question 1 of 3" in again
        await say(tg, 502, bela, "/finish", "Result: 0 / 3")
        async with db.session() as session:
            assert (await balances(session, linked_id))["bonus"] == 3000  # paid once
        await say(tg, 502, bela, f"/take {exam_id}", "Question 1 of 3")
        await say(tg, 502, bela, "/finish", "Result: 0 / 3")

        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            seen = (await http.get(f"/api/exams/{exam_id}/attempts")).json()["items"]
        by_taker = {(a["telegram_id"], a["user_id"]): a for a in seen}
        assert by_taker[(501, None)]["platform"] == "bot" and by_taker[(501, None)]["result"]["score"] == 3
        assert by_taker[(None, linked_id)]["result"]["score"] == 0
        assert owner_id not in {a["user_id"] for a in seen}
