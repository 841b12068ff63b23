"""A solo exam's turns in a private chat with the bot: the current question, answering it once,
a trainer's verdict, then the next question or the result; and the bot's hooks for the
question buttons and for text replies (PLATFORM.md "Solo attempts", platform `bot`).

Every answer — a button, a reply, `/a` — goes through `answer_current`. The question answered
must be the attempt's current one (the first unanswered in serving order), so a press on an
earlier question's button is refused; a short claim in Redis per attempt and question makes a
double press (or a press racing an `/a`) answer once and send the next question once; the
attempt's own checks (its taker, its deadline, the answer's shape) follow in
`persistence.exams.attempts.answer`. A press is answered with a toast (always: the bridge
answers every callback query); replies and the next question go through the chat's outbox.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from gameserver.platform.exams_bot_keyboard import (
    BotState,
    Prompt,
    asked_by,
    close,
    parse_press,
    question_prompt,
    retick,
    shorten,
    show,
    ticks,
    toggle,
)
from gameserver.port import ServerPort
from persistence.accounts.models import User
from persistence.db import Database
from persistence.exams import attempts, bank
from persistence.exams.attempts import AttemptError, Taker
from persistence.exams.models import Attempt, Exam
from persistence.exams.scoring import expected, is_correct
from transports.telegram.runtime import PressCall, TextCall

UNAVAILABLE = "Exams are not available right now. Try again later."
STALE = "This button is no longer active."
NOT_YOURS = "This button belongs to someone else's exam."
ANSWERED = "That question is answered already."
NOT_UNDERSTOOD = "I did not understand that answer.\n\n"
CLAIM_S = 30  # a claim lasts one answer's handling; this bounds one a crash left behind


def services(bridge: object) -> tuple[Database, BotState] | None:
    """The SQL database and Redis of the server behind the bridge (None: no platform here)."""
    port = getattr(bridge, "port", None)
    db = port.live.db if isinstance(port, ServerPort) else None
    if not isinstance(port, ServerPort) or db is None:
        return None
    return db, BotState.of(port.live.redis, db.url, db.schema)


async def taker_of(db: Database, telegram_id: int) -> Taker:
    """The linked account, else the Telegram identity alone."""
    async with db.session() as session:
        user = (await session.exec(select(User).where(col(User.telegram_id) == telegram_id,
                                                      col(User.deleted_at).is_(None)))).first()
    return Taker(user.id) if user is not None and user.id is not None else Taker(telegram_id=telegram_id)


async def open_attempt(db: Database, taker: Taker) -> Attempt | None:
    who = (col(Attempt.user_id) == taker.user_id if taker.user_id is not None
           else col(Attempt.telegram_id) == taker.telegram_id)
    async with db.session() as session:
        return (await session.exec(
            select(Attempt).where(who, col(Attempt.platform) == "bot", col(Attempt.state) == "in_progress")
            .order_by(col(Attempt.id).desc())
        )).first()


def result_text(attempt: Attempt) -> str:
    verdict = "Passed" if attempt.passed else "Not passed"
    ended = {"deadline": "Time is up. ", "fullscreen_exit": ""}.get(attempt.ended_by or "", "")
    return f"{ended}Result: {attempt.score} / {attempt.max_score} ({attempt.percent}%). {verdict}."


def served(attempt: Attempt, exam: Exam) -> list[int]:
    return [n for n in attempts.positions(attempt) if n < exam.question_count]


def current(attempt: Attempt, exam: Exam, answered: dict[int, Any]) -> int | None:
    """The position of the question to answer now: the first unanswered one."""
    return next((n for n in served(attempt, exam) if n not in answered), None)


def prompt_for(attempt: Attempt, exam: Exam, n: int) -> Prompt:
    order = served(attempt, exam)
    return question_prompt(attempt.id or 0, bank.questions(exam)[n], n, order.index(n), len(order))


async def next_prompt(db: Database, taker: Taker, attempt: Attempt, exam: Exam) -> Prompt:
    """The current question, or (none left) the attempt finished and its result."""
    n = current(attempt, exam, await attempts.answers_of(db, attempt.id or 0))
    if n is not None:
        return prompt_for(attempt, exam, n)
    return Prompt(result_text(await attempts.finish(db, attempt.id or 0, taker)))


def parse_text(question: dict[str, Any], words: tuple[str, ...]) -> dict[str, Any] | None:
    """An answer typed as text: option numbers (`2`, `1 3`, `1,3`) or the text itself."""
    if question["type"] in ("text", "free"):
        return {"text": " ".join(words)} if words else None
    numbers = [part for word in words for part in word.replace(",", " ").split()]
    if not numbers or not all(part.isdigit() and len(part) <= 3 for part in numbers):
        return None
    indexes = [int(part) - 1 for part in numbers]
    if question["type"] == "select_one":
        return {"option": indexes[0]} if len(indexes) == 1 else None
    return {"options": indexes}


def said(question: dict[str, Any], body: dict[str, Any]) -> str:
    """An answer in words, as the taker gave it."""
    options: list[str] = question.get("options", [])
    if "option" in body:
        return f"{body['option'] + 1}. {options[body['option']]}"
    if "options" in body:
        return ", ".join(f"{i + 1}. {options[i]}" for i in sorted(body["options"]))
    return str(body.get("text", ""))


def verdict(exam: Exam, question: dict[str, Any], body: dict[str, Any]) -> tuple[str, str]:
    """(message prefix, toast): a trainer shows each result at once (001 §2.4.1)."""
    if exam.mode != "trainer":
        return "", "Saved"
    if is_correct(question, body):
        return "✅ Correct!\n\n", "✅ Correct!"
    right = expected(question)
    shown = (said(question, {"option": right["option"]}) if "option" in right
             else said(question, {"options": right["options"]}) if right.get("options") else right.get("text", ""))
    return f"❌ Wrong. The right answer: {html.escape(shorten(str(shown), 300))}\n\n", "❌ Wrong"


@dataclass(frozen=True)
class Answered:
    prompt: Prompt  # the verdict (trainers) and the next question, or the result
    toast: str
    said: str


async def answer_current(db: Database, state: BotState, taker: Taker, attempt: Attempt, exam: Exam, n: int,
                         body: dict[str, Any]) -> Answered | Prompt | str:
    """Store the answer to question `n` (the current one) once. A refusal is a string, or the
    result when the attempt was over (its deadline passed meanwhile). The claim orders answers
    racing for one question: the second one finds it answered."""
    claim = state.claim_key(attempt.id or 0, n)
    if not await state.redis.set(claim, "1", nx=True, ex=CLAIM_S):
        return ANSWERED
    try:
        if n in await attempts.answers_of(db, attempt.id or 0):
            return ANSWERED
        await attempts.answer(db, attempt.id or 0, taker, n, body)
    except AttemptError as refusal:
        if refusal.code == "attempt_closed":
            finished, _ = await attempts.load(db, attempt.id or 0)
            return Prompt(result_text(finished))
        return refusal.message
    finally:
        await state.redis.delete(claim)
    await state.redis.delete(state.ticks_key(attempt.id or 0, n))
    question = bank.questions(exam)[n]
    prefix, toast = verdict(exam, question, body)
    prompt = await next_prompt(db, taker, attempt, exam)
    return Answered(prompt.after(prefix), toast, said(question, body))


async def on_press(call: PressCall) -> str:
    """A question's button: choose, tick/untick, or Done. The toast says what happened."""
    press, found = parse_press(call.data), services(call.bridge)
    if press is None or not call.private or not call.chat_id:
        return STALE
    if found is None:
        return UNAVAILABLE
    db, state = found
    taker = await taker_of(db, call.user_id)
    try:
        attempt, exam = await attempts.load(db, press.attempt_id)
    except AttemptError:
        return NOT_YOURS
    if not taker.owns(attempt):
        return NOT_YOURS
    if attempt.state != "in_progress":
        return "This exam is over. " + result_text(attempt)
    answered = await attempts.answers_of(db, attempt.id or 0)
    if current(attempt, exam, answered) != press.n:
        return ANSWERED if press.n in answered else STALE
    question = bank.questions(exam)[press.n]
    options = question.get("options", [])
    if press.option is not None and press.option >= len(options):
        return STALE
    if question["type"] == "select_many":
        if press.option is not None:
            await toggle(state, attempt.id or 0, press.n, press.option)
            retick(call.bridge, state, call.chat_id, call.message_id, question, attempt.id or 0, press.n)
            on = press.option in await ticks(state, attempt.id or 0, press.n)
            return f"{'✓' if on else '✗'} {shorten(options[press.option], 60)}"
        picked = {i for i in await ticks(state, attempt.id or 0, press.n) if i < len(options)}
        if not picked:
            return "Tick at least one answer, then press Done."
        body: dict[str, Any] = {"options": sorted(picked)}
    elif question["type"] == "select_one" and press.option is not None:
        body = {"option": press.option}
    else:
        return STALE
    result = await answer_current(db, state, taker, attempt, exam, press.n, body)
    if isinstance(result, str):
        return result
    if isinstance(result, Prompt):
        return "This exam is over. " + result.text
    close(call.bridge, call.chat_id, call.message_id, call.message_html, result.said)
    show(call.bridge, state, call.chat_id, result.prompt)
    return result.toast


async def on_text(call: TextCall) -> str | None:
    """Text in a private chat while an exam is open there: the current question's answer (a
    reply to its message, or typed without replying). None: not about an exam."""
    found = services(call.bridge)
    if found is None:
        return None
    db, state = found
    taker = await taker_of(db, call.user_id)
    attempt = await open_attempt(db, taker)
    if attempt is None:
        return None
    attempt, exam = await attempts.load(db, attempt.id or 0)
    if attempt.state != "in_progress":
        return result_text(attempt)
    n = current(attempt, exam, await attempts.answers_of(db, attempt.id or 0))
    if n is None:
        show(call.bridge, state, call.chat_id, await next_prompt(db, taker, attempt, exam))
        return None
    if call.reply_to is not None:
        asked = await asked_by(state, call.chat_id, call.reply_to)
        if asked is not None and asked != (attempt.id, n):
            return f"{ANSWERED} Answer the current question."
    question = bank.questions(exam)[n]
    body = parse_text(question, tuple(call.text.split()))
    if body is None:
        show(call.bridge, state, call.chat_id, prompt_for(attempt, exam, n).after(NOT_UNDERSTOOD))
        return None
    result = await answer_current(db, state, taker, attempt, exam, n, body)
    if isinstance(result, str):
        return result
    show(call.bridge, state, call.chat_id, result if isinstance(result, Prompt) else result.prompt)
    return None
