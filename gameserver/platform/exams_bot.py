"""Solo exams in a private chat with the Telegram bot (PLATFORM.md "Solo attempts", platform
`bot`), on the bridge's extra-command hook (`gameserver.telegram_wiring.register_command`):

- `/exams` lists what the user may take here: active exams the 000 §10 table opens to the bot
  (`show_in_bot`, never proctored); a Telegram user with no linked account sees the free ones
  (their Telegram identity is enough), a linked account the paid ones too;
- `/take ID` starts an attempt and sends the first question (a paid exam first says its price);
- `/pay ID` pays a paid exam from the linked account's wallet and starts it, once per purchase;
- `/a ANSWER` answers the current question: an option's number (select_one), numbers
  (select_many: `/a 1 3`) or text; a trainer says at once whether it was right; after the last
  question the attempt is finished and scored;
- `/finish` finishes at once. The exam's deadline holds as everywhere (the server's).

A user who linked their account (`/link CODE`) takes exams as that account, so the attempt is
in their history; otherwise the attempt carries the Telegram user id.
"""

from __future__ import annotations

import html
from typing import Any, Protocol

from sqlmodel import col, select

from gameserver.port import ServerPort
from persistence.accounts.models import User
from persistence.db import Database
from persistence.exams import attempts, bank
from persistence.exams.attempts import AttemptError, Taker
from persistence.exams.availability import availability
from persistence.exams.models import Attempt, Exam
from persistence.exams.scoring import expected, is_correct
from persistence.wallet.errors import WalletError
from persistence.wallet.service import pay_for_exam

MAX_LISTED = 20
PRIVATE_ONLY = "Exams are taken in a private chat with me: open it and send /exams."
UNAVAILABLE = "Exams are not available right now. Try again later."
NO_ATTEMPT = "You are not taking an exam here. Send /exams to see what you may take."
IN_PROGRESS = "You are already taking this exam: answer with /a, or send /finish."


class BotCall(Protocol):
    @property
    def user_id(self) -> int: ...
    @property
    def private(self) -> bool: ...
    @property
    def args(self) -> tuple[str, ...]: ...
    @property
    def bridge(self) -> object: ...


def _db(call: BotCall) -> Database | None:
    port = getattr(call.bridge, "port", None)
    return port.live.db if isinstance(port, ServerPort) else None


async def taker_of(db: Database, telegram_id: int) -> Taker:
    """The linked account, else the Telegram identity alone."""
    async with db.session() as session:
        user = (await session.exec(select(User).where(col(User.telegram_id) == telegram_id,
                                                      col(User.deleted_at).is_(None)))).first()
    return Taker(user.id) if user is not None and user.id is not None else Taker(telegram_id=telegram_id)


async def bot_exams(db: Database, taker: Taker) -> list[Exam]:
    statement = (select(Exam).where(col(Exam.active).is_(True), col(Exam.show_in_bot).is_(True),
                                    col(Exam.deleted_at).is_(None))
                 .order_by(col(Exam.id).desc()).limit(200))
    async with db.session() as session:
        found = list((await session.exec(statement)).all())
    shown = [e for e in found if availability(e, "bot") and (e.price == 0 or taker.user_id is not None)]
    return shown[:MAX_LISTED]


async def open_attempt(db: Database, taker: Taker) -> Attempt | None:
    who = (col(Attempt.user_id) == taker.user_id if taker.user_id is not None
           else col(Attempt.telegram_id) == taker.telegram_id)
    async with db.session() as session:
        return (await session.exec(
            select(Attempt).where(who, col(Attempt.platform) == "bot", col(Attempt.state) == "in_progress")
            .order_by(col(Attempt.id).desc())
        )).first()


def question_text(exam: Exam, attempt: Attempt, n: int, index: int) -> str:
    question = bank.questions(exam)[n]
    lines = [f"Question {index + 1} of {len(attempts.positions(attempt))}", f"<b>{html.escape(question['text'])}</b>"]
    if question["type"] in ("select_one", "select_many"):
        lines += [f"{i + 1}) {html.escape(option)}" for i, option in enumerate(question["options"])]
        how = "/a NUMBER" if question["type"] == "select_one" else "/a NUMBERS (every right one, e.g. /a 1 3)"
    else:
        how = "/a YOUR ANSWER"
    lines.append(f"Answer with {how}.")
    return "\n".join(lines)


def result_text(attempt: Attempt) -> str:
    verdict = "Passed" if attempt.passed else "Not passed"
    ended = {"deadline": "Time is up. ", "fullscreen_exit": ""}.get(attempt.ended_by or "", "")
    return f"{ended}Result: {attempt.score} / {attempt.max_score} ({attempt.percent}%). {verdict}."


async def _next_or_finish(db: Database, taker: Taker, attempt: Attempt, exam: Exam, prefix: str = "") -> str:
    answered = await attempts.answers_of(db, attempt.id or 0)
    order = [n for n in attempts.positions(attempt) if n < exam.question_count]
    for index, n in enumerate(order):
        if n not in answered:
            return prefix + question_text(exam, attempt, n, index)
    done = await attempts.finish(db, attempt.id or 0, taker)
    return prefix + result_text(done)


def _parse(question: dict[str, Any], args: tuple[str, ...]) -> dict[str, Any] | None:
    if question["type"] in ("text", "free"):
        return {"text": " ".join(args)} if args else None
    numbers = [part for arg in args for part in arg.replace(",", " ").split()]
    if not numbers or not all(part.isdigit() for part in numbers):
        return None
    indexes = [int(part) - 1 for part in numbers]
    if question["type"] == "select_one":
        return {"option": indexes[0]} if len(indexes) == 1 else None
    return {"options": indexes}


async def _private_taker(call: BotCall) -> tuple[Database, Taker] | str:
    """The database and the person behind a private-chat command, or the reply refusing it."""
    db = _db(call)
    if db is None:
        return UNAVAILABLE
    if not call.private:
        return PRIVATE_ONLY
    return db, await taker_of(db, call.user_id)


async def _open_attempt_of(call: BotCall) -> tuple[Database, Taker, Attempt] | str:
    """As `_private_taker`, with the person's open attempt (or the reply saying there is none)."""
    found = await _private_taker(call)
    if isinstance(found, str):
        return found
    db, taker = found
    attempt = await open_attempt(db, taker)
    return NO_ATTEMPT if attempt is None else (db, taker, attempt)


async def exams_command(call: BotCall) -> str | None:
    who = await _private_taker(call)
    if isinstance(who, str):
        return who
    db, taker = who
    found = await bot_exams(db, taker)
    if not found:
        return "No exams are open to take here right now."
    lines = ["Exams you may take here (send /take NUMBER):"]
    for exam in found:
        price = f", {exam.price:,} so'm" if exam.price else ""
        lines.append(f"/take {exam.id} — {html.escape(exam.title)} ({exam.question_count} questions{price})")
    if taker.user_id is None:
        lines.append("Link your LiveQuiz account (/link CODE) to keep your results and to see paid exams.")
    return "\n".join(lines)


async def take_command(call: BotCall) -> str | None:
    who = await _private_taker(call)
    if isinstance(who, str):
        return who
    db, taker = who
    if len(call.args) != 1 or not call.args[0].isdigit() or len(call.args[0]) > 9:
        return "Send /take NUMBER with a number from /exams."
    exam = await bank.get(db, int(call.args[0]))
    if exam is None or exam.id not in {e.id for e in await bot_exams(db, taker)}:
        return "That exam cannot be taken here. Send /exams to see what you may take."
    if exam.price:
        return (f"<b>{html.escape(exam.title)}</b> costs {exam.price:,} so'm, taken from your balance "
                f"(bonus first). Send /pay {exam.id} to pay and start.")
    try:
        run = await attempts.start(db, exam, taker, "bot")
    except AttemptError as refusal:
        if refusal.code == "attempt_in_progress":
            return IN_PROGRESS
        return refusal.message
    return await _started(db, taker, run.attempt, exam)


async def _started(db: Database, taker: Taker, attempt: Attempt, exam: Exam) -> str:
    deadline = f" You have {exam.time_limit_s // 60} min {exam.time_limit_s % 60} s." if exam.time_limit_s else ""
    head = f"<b>{html.escape(exam.title)}</b> — started.{deadline}\n\n"
    return await _next_or_finish(db, taker, attempt, exam, head)


async def pay_command(call: BotCall) -> str | None:
    """`/pay ID`: a linked account pays a paid exam's price and starts it. The payment and the
    new attempt are one SQL transaction, and the attempt's `open_key` admits one open attempt per
    user and exam: a repeated /pay (or Telegram redelivering it) meets the open attempt before
    anything is paid; a refused payment opens nothing. After the attempt is finished, the next
    /pay is a new purchase."""
    who = await _private_taker(call)
    if isinstance(who, str):
        return who
    db, taker = who
    if len(call.args) != 1 or not call.args[0].isdigit() or len(call.args[0]) > 9:
        return "Send /pay NUMBER with a number from /exams."
    exam = await bank.get(db, int(call.args[0]))
    if exam is None or exam.id not in {e.id for e in await bot_exams(db, taker)} or not exam.price:
        return "That exam cannot be bought here. Send /exams to see what you may take."
    if taker.user_id is None or exam.id is None or exam.owner_id is None:
        return "That exam cannot be bought here. Send /exams to see what you may take."
    try:
        async with db.transaction() as session:
            run = await attempts.start_in(session, exam, taker, "bot")
            await pay_for_exam(session, taker.user_id, exam.owner_id, exam.price, exam_id=exam.id,
                               ref=f"exam:{exam.id}:attempt:{run.attempt.id}")
            run.attempt.paid = exam.price
            session.add(run.attempt)
    except WalletError as refusal:
        if refusal.code == "insufficient_funds":
            return "Your balance is too low for this exam. Top it up on the web, then send /pay again."
        return refusal.message
    except AttemptError as refusal:
        current = await open_attempt(db, taker)
        if refusal.code == "attempt_in_progress" and current is not None and current.exam_id == exam.id:
            attempt, exam = await attempts.load(db, current.id or 0)
            return await answer_status(db, taker, attempt, exam)
        return IN_PROGRESS if refusal.code == "attempt_in_progress" else refusal.message
    return await _started(db, taker, run.attempt, exam)


async def answer_status(db: Database, taker: Taker, attempt: Attempt, exam: Exam) -> str:
    if attempt.state != "in_progress":
        return result_text(attempt)
    return await _next_or_finish(db, taker, attempt, exam, "You have paid for this attempt already.\n\n")


async def answer_command(call: BotCall) -> str | None:
    found = await _open_attempt_of(call)
    if isinstance(found, str):
        return found
    db, taker, attempt = found
    attempt, exam = await attempts.load(db, attempt.id or 0)
    if attempt.state != "in_progress":
        return result_text(attempt)
    answered = await attempts.answers_of(db, attempt.id or 0)
    current = next((n for n in attempts.positions(attempt) if n not in answered and n < exam.question_count), None)
    if current is None:
        return await _next_or_finish(db, taker, attempt, exam)
    question = bank.questions(exam)[current]
    body = _parse(question, call.args)
    if body is None:
        return "I did not understand that answer.\n\n" + question_text(
            exam, attempt, current, attempts.positions(attempt).index(current))
    try:
        await attempts.answer(db, attempt.id or 0, taker, current, body)
    except AttemptError as refusal:
        if refusal.code == "attempt_closed":
            finished, _ = await attempts.load(db, attempt.id or 0)
            return result_text(finished)
        return f"{refusal.message}\n\n" + question_text(exam, attempt, current,
                                                         attempts.positions(attempt).index(current))
    feedback = ""
    if exam.mode == "trainer":  # 001 §2.4.1: a trainer shows each result at once
        if is_correct(question, body):
            feedback = "✅ Correct!\n\n"
        else:
            right = expected(question)
            shown = (question["options"][right["option"]] if "option" in right
                     else ", ".join(question["options"][i] for i in right.get("options", [])) or right.get("text", ""))
            feedback = f"❌ Wrong. The right answer: {html.escape(str(shown))}\n\n"
    return await _next_or_finish(db, taker, attempt, exam, feedback)


async def finish_command(call: BotCall) -> str | None:
    found = await _open_attempt_of(call)
    if isinstance(found, str):
        return found
    db, taker, attempt = found
    return result_text(await attempts.finish(db, attempt.id or 0, taker))


def install() -> None:
    """Have the bot answer /exams, /take, /pay, /a and /finish (every bridge this process starts)."""
    from gameserver.telegram_wiring import register_command

    register_command("exams", exams_command)
    register_command("take", take_command)
    register_command("pay", pay_command)
    register_command("a", answer_command)
    register_command("finish", finish_command)
