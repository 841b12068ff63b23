"""Solo exams on the bot answered with inline buttons and replies (gameserver/platform/
exams_bot_keyboard.py, exams_bot_flow.py), against the fake Bot API and the real app with its
Redis, on SQLite and PostgreSQL: a select_one by a button, a select_many by ticks and Done
(quick taps all count), a text question by a reply; a stale button, another user's button and
a reply to an answered question are refused; every press is answered; a trainer's verdict."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import httpx
from telegram import InlineKeyboardMarkup

from gameserver.platform.exams_bot_flow import verdict
from gameserver.platform.exams_bot_keyboard import question_prompt
from persistence.accounts import tokens
from persistence.accounts.models import User
from persistence.exams.models import Exam
from tests.fakes import FakeTelegram
from tests.fakes.telegram_api import ChatMessage
from tests.sql_support import SqlTarget
from tests.telegram.support import GROUP, LiveServer, live_server, make_settings, wait_until

QUESTIONS: list[dict[str, Any]] = [
    {"type": "select_one", "text": "2 + 2?", "options": ["3", "4"], "correct": 1},
    {"type": "select_many", "text": "Even?", "options": ["2", "3", "4"], "correct": [0, 2]},
    {"type": "text", "text": "Say yes", "accepted": ["yes"]},
]
EXAM = {
    "title": "Buttons",
    "show_in_bot": True,
    "pass_percent": 60,
    "questions": QUESTIONS,
}
ALI, BELA = 601, 602


async def create_exams(server: LiveServer) -> tuple[int, int]:
    db = server.live.db
    assert db is not None
    async with db.transaction() as session:
        user = User(username="buttons", first_name="Setter")
        session.add(user)
        await session.flush()
        assert user.id is not None
        token = (await tokens.issue(session, user.id, "api")).token
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        exam = (await http.post("/api/exams", json=EXAM)).json()["id"]
        trainer = (await http.post("/api/exams", json=EXAM | {"title": "Drill", "mode": "trainer"})).json()["id"]
    return exam, trainer


async def bot_message(tg: FakeTelegram, chat: int, expect: str, after: int = 0) -> ChatMessage:
    """The first bot message in the chat after message id `after` that shows `expect`."""
    def found() -> ChatMessage | None:
        return next((m for m in tg.messages(chat, bot_only=True) if m.message_id > after and expect in (m.text or "")),
                    None)
    message: ChatMessage = await wait_until(found, what=f"a message saying {expect!r}")
    return message


async def press(tg: FakeTelegram, chat: int, message: ChatMessage, user: dict[str, Any], index: int) -> str:
    """Press a button the message had when it was sent (it may be gone since: a stale client)."""
    query = tg.press_button(chat, message.message_id, user, message.callback_data[index], check=False)
    answer = await tg.callback_answer(query, timeout=10)
    return answer.text or ""


def labels(tg: FakeTelegram, chat: int, message_id: int) -> list[str]:
    return [b["text"] for row in tg.message(chat, message_id).buttons for b in row]


async def test_an_attempt_answered_with_buttons_and_a_reply(
    sql_target: SqlTarget, redis_url: str, tmp_path: Path
) -> None:
    def settings(port: int) -> Any:
        return make_settings(tg, redis_url, tmp_path, database_url=sql_target.url,
                             database_schema=sql_target.schema or "")

    async with FakeTelegram() as tg, live_server(settings) as server:
        exam_id, trainer_id = await create_exams(server)
        ali, bela = tg.user(ALI, "Ali"), tg.user(BELA, "Bela")
        tg.send_text(ALI, ali, f"/take {exam_id}")
        first = await bot_message(tg, ALI, "Question 1 of 3")
        assert "Press the right answer" in first.text  # type: ignore[operator]
        assert [b["text"] for row in first.buttons for b in row] == ["1. 3", "2. 4"]
        assert all(d.startswith("e:") and len(d.encode()) <= 64 for d in first.callback_data)

        # A double press (two taps before the first is handled) answers once.
        queries = [tg.press_button(ALI, first.message_id, ali, first.callback_data[1]) for _ in range(2)]
        toasts = sorted([(await tg.callback_answer(q, timeout=10)).text or "" for q in queries])
        assert toasts == ["Saved", "That question is answered already."]
        second = await bot_message(tg, ALI, "Question 2 of 3", after=first.message_id)
        assert labels(tg, ALI, second.message_id)[-1] == "Done ✔"
        # The answered question loses its buttons and says the answer (an edit in the background).
        await wait_until(lambda: "Your answer: 2. 4" in (tg.message(ALI, first.message_id).text or ""),
                         what="the first question closed")
        assert tg.message(ALI, first.message_id).buttons == []

        # A stale button: the first question's, pressed on a client that still shows it.
        assert await press(tg, ALI, first, ali, 0) == "That question is answered already."
        # Another user's press on Ali's question (and Done with nothing ticked) answers nothing.
        assert await press(tg, ALI, second, bela, 3) == "This button belongs to someone else's exam."
        assert await press(tg, ALI, second, ali, 3) == "Tick at least one answer, then press Done."

        # Taps in a row, whatever the buttons show meanwhile: every one counts (2 and 4 ticked,
        # 3 ticked and unticked), and the edits show the newest ticks.
        toasts = [await press(tg, ALI, second, ali, i) for i in (0, 1, 2, 1)]
        assert toasts == ["✓ 2", "✓ 3", "✓ 4", "✗ 3"]
        await wait_until(lambda: labels(tg, ALI, second.message_id)[:3] == ["✓ 1. 2", "2. 3", "✓ 3. 4"],
                         what="the ticks shown")
        assert await press(tg, ALI, second, ali, 3) == "Saved"
        third = await bot_message(tg, ALI, "Question 3 of 3", after=second.message_id)
        assert third.force_reply and third.buttons == []
        assert "Reply to this message" in (third.text or "")

        # A reply to an answered question is refused; a reply to the current one answers it.
        before = third.message_id
        tg.send_text(ALI, ali, "no", reply_to=first.message_id)
        await bot_message(tg, ALI, "That question is answered already", after=before)
        tg.send_text(ALI, ali, "  YES ", reply_to=third.message_id)
        result = await bot_message(tg, ALI, "Result:", after=before)
        assert "3 / 3 (100.0%). Passed." in (result.text or "")
        assert len([m for m in tg.messages(ALI, bot_only=True) if "Question 2 of 3" in (m.text or "")]) == 1
        assert (await press(tg, ALI, second, ali, 3)).startswith("This exam is over. Result: 3 / 3")

        # A trainer: a wrong press says so at once, and the right answer leads the next question.
        tg.send_text(ALI, ali, f"/take {trainer_id}")
        drill = await bot_message(tg, ALI, "Question 1 of 3", after=result.message_id)
        question = next(q for q in QUESTIONS if q["text"] in (drill.text or ""))
        if question["type"] == "text":
            tg.send_text(ALI, ali, "no", reply_to=drill.message_id)
        elif question["type"] == "select_many":
            assert await press(tg, ALI, drill, ali, 1) == "✓ 3"
            assert await press(tg, ALI, drill, ali, 3) == "❌ Wrong"
        else:
            assert await press(tg, ALI, drill, ali, 1 - question["correct"]) == "❌ Wrong"
        verdict = await bot_message(tg, ALI, "Question 2 of 3", after=drill.message_id)
        assert "❌ Wrong. The right answer:" in (verdict.text or "")

        # A private chat paces an exam at about a message a second; a group keeps its 20 a minute.
        bridge = server.runtime.bridge
        assert (bridge.outbox(ALI).budget.limit, bridge.outbox(GROUP).budget.limit) == (60, 20)


def test_the_largest_question_fits_one_message_and_its_buttons_their_data() -> None:
    options = [f"{i}" + "o" * 299 for i in range(10)]  # the bank's bounds: 10 options of 300
    question = {"type": "select_many", "text": "Q" * 2000, "options": options, "correct": list(range(10))}
    prompt = question_prompt(10**12 - 1, question, 499, 499, 500)
    trainer = Exam(title="Drill", content="{}", mode="trainer")
    prefix, _ = verdict(trainer, question, {"options": [0]})  # wrong: the right answer names 10 options
    started = "<b>" + "T" * 200 + "</b> — started. You have 1440 min 0 s.\n\n"
    for text in (prompt.after(prefix).text, prompt.after(started).text):
        shown = html.unescape(re.sub(r"<[^>]+>", "", text))
        assert len(shown) <= 4096 and "Q" * 100 in shown and options[9][:100] in shown
    assert isinstance(prompt.markup, InlineKeyboardMarkup)
    data = [b.callback_data for row in prompt.markup.inline_keyboard for b in row]
    assert len(data) == 11 and all(isinstance(d, str) and len(d.encode()) <= 64 for d in data)
