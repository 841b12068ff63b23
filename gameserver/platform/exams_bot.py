"""Solo exams in a private chat with the Telegram bot (PLATFORM.md "Solo attempts", platform
`bot`), on the bridge's hooks (`gameserver.telegram_wiring`: commands, button presses, text):

- `/exams` lists what the user may take here: active exams the 000 §10 table opens to the bot
  (`show_in_bot`, never proctored) and that have no recorded IELTS/CEFR Speaking; a Telegram
  user with no linked account sees the free ones (their Telegram identity is enough), a linked
  account the paid ones too;
- `/take ID` starts an attempt and sends the first question (a paid exam first says its price);
- `/pay ID` pays a paid exam from the linked account's wallet and starts it, once per purchase;
- each question comes with inline buttons (an option to press; options to tick, then Done) or,
  for `text` and `free` questions, asks for a reply (`exams_bot_keyboard`); the buttons and
  replies are handled in `exams_bot_flow`; a trainer says at once whether it was right; after
  the last question the attempt is finished and scored;
- `/a ANSWER` answers the current question too, where buttons are not at hand: an option's
  number (select_one), numbers (select_many: `/a 1 3`) or text;
- `/finish` finishes at once. The exam's deadline holds as everywhere (the server's, and its
  sweeper finishes an attempt nobody touches again).

A user who linked their account (`/link CODE`) takes exams as that account, so the attempt is
in their history; otherwise the attempt carries the Telegram user id.
"""

from __future__ import annotations

import html
from typing import Protocol

from sqlmodel import col, select

from gameserver.platform.exams_bot_flow import (
    NOT_UNDERSTOOD,
    UNAVAILABLE,
    answer_current,
    next_prompt,
    open_attempt,
    parse_text,
    prompt_for,
    result_text,
    services,
    taker_of,
)
from gameserver.platform.exams_bot_keyboard import PREFIX, Prompt, show
from persistence.db import Database
from persistence.exams import attempts, bank
from persistence.exams.attempts import AttemptError, Taker
from persistence.exams.availability import availability
from persistence.exams.models import Attempt, Exam
from persistence.ielts.result import records_speaking
from persistence.wallet.errors import WalletError
from persistence.wallet.service import pay_for_exam
from transports.telegram.bridge import TelegramBridge

MAX_LISTED = 20
PRIVATE_ONLY = "Exams are taken in a private chat with me: open it and send /exams."
NO_ATTEMPT = "You are not taking an exam here. Send /exams to see what you may take."
IN_PROGRESS = "You are already taking this exam: answer the question, or send /finish."


class BotCall(Protocol):
    @property
    def user_id(self) -> int: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def private(self) -> bool: ...
    @property
    def args(self) -> tuple[str, ...]: ...
    @property
    def bridge(self) -> TelegramBridge: ...


async def bot_exams(db: Database, taker: Taker) -> list[Exam]:
    statement = (select(Exam).where(col(Exam.active).is_(True), col(Exam.show_in_bot).is_(True),
                                    col(Exam.deleted_at).is_(None))
                 .order_by(col(Exam.id).desc()).limit(200))
    async with db.session() as session:
        found = list((await session.exec(statement)).all())
    # An exam whose Speaking is answered by recordings is not taken here: the bot asks for text
    # replies, and a text answer to a recorded prompt is refused.
    shown = [e for e in found if availability(e, "bot") and (e.price == 0 or taker.user_id is not None)
             and not records_speaking(e.kind, e.speaking_mode, bank.content(e))]
    return shown[:MAX_LISTED]


def _send(call: BotCall, prompt: Prompt) -> None:
    """A prompt to the caller's chat (a question carries its buttons, or asks for a reply)."""
    found = services(call.bridge)
    if found is not None:
        show(call.bridge, found[1], call.chat_id, prompt)


async def _private_taker(call: BotCall) -> tuple[Database, Taker] | str:
    """The database and the person behind a private-chat command, or the reply refusing it."""
    found = services(call.bridge)
    if found is None:
        return UNAVAILABLE
    if not call.private:
        return PRIVATE_ONLY
    return found[0], await taker_of(found[0], call.user_id)


async def _open_attempt_of(call: BotCall) -> tuple[Database, Taker, Attempt] | str:
    """As `_private_taker`, with the person's open attempt (or the reply saying there is none)."""
    found = await _private_taker(call)
    if isinstance(found, str):
        return found
    db, taker = found
    attempt = await open_attempt(db, taker)
    return NO_ATTEMPT if attempt is None else (db, taker, attempt)


def _exam_number(call: BotCall) -> int | None:
    ok = len(call.args) == 1 and call.args[0].isdigit() and len(call.args[0]) <= 9
    return int(call.args[0]) if ok else None


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
    number = _exam_number(call)
    if number is None:
        return "Send /take NUMBER with a number from /exams."
    exam = await bank.get(db, number)
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
    await _started(call, db, taker, run.attempt, exam)
    return None


async def _started(call: BotCall, db: Database, taker: Taker, attempt: Attempt, exam: Exam) -> None:
    deadline = f" You have {exam.time_limit_s // 60} min {exam.time_limit_s % 60} s." if exam.time_limit_s else ""
    head = f"<b>{html.escape(exam.title)}</b> — started.{deadline}\n\n"
    _send(call, (await next_prompt(db, taker, attempt, exam)).after(head))


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
    number = _exam_number(call)
    if number is None:
        return "Send /pay NUMBER with a number from /exams."
    exam = await bank.get(db, number)
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
            if attempt.state != "in_progress":
                return result_text(attempt)
            again = await next_prompt(db, taker, attempt, exam)
            _send(call, again.after("You have paid for this attempt already.\n\n"))
            return None
        return IN_PROGRESS if refusal.code == "attempt_in_progress" else refusal.message
    await _started(call, db, taker, run.attempt, exam)
    return None


async def answer_command(call: BotCall) -> str | None:
    """`/a ANSWER`: the fallback of the buttons and replies, answering the current question."""
    found = await _open_attempt_of(call)
    if isinstance(found, str):
        return found
    db, taker, attempt = found
    attempt, exam = await attempts.load(db, attempt.id or 0)
    if attempt.state != "in_progress":
        return result_text(attempt)
    prompt = await next_prompt(db, taker, attempt, exam)
    if prompt.asks is None:  # nothing left to answer: finished now, this is the result
        _send(call, prompt)
        return None
    n = prompt.asks[1]
    body = parse_text(bank.questions(exam)[n], call.args)
    if body is None:
        _send(call, prompt.after(NOT_UNDERSTOOD))
        return None
    services_found = services(call.bridge)
    assert services_found is not None  # _open_attempt_of found the database
    result = await answer_current(db, services_found[1], taker, attempt, exam, n, body)
    if isinstance(result, str):  # e.g. an option's number out of range: the question again
        _send(call, prompt_for(attempt, exam, n).after(f"{html.escape(result)}\n\n"))
    else:
        _send(call, result if isinstance(result, Prompt) else result.prompt)
    return None


async def finish_command(call: BotCall) -> str | None:
    found = await _open_attempt_of(call)
    if isinstance(found, str):
        return found
    db, taker, attempt = found
    return result_text(await attempts.finish(db, attempt.id or 0, taker))


def install() -> None:
    """Have the bot answer /exams, /take, /pay, /a and /finish, the question buttons and text
    replies (every bridge this process starts)."""
    from gameserver.platform.exams_bot_flow import on_press, on_text
    from gameserver.telegram_wiring import register_command, register_press, register_text

    register_command("exams", exams_command)
    register_command("take", take_command)
    register_command("pay", pay_command)
    register_command("a", answer_command)
    register_command("finish", finish_command)
    register_press(PREFIX, on_press)
    register_text(on_text)
