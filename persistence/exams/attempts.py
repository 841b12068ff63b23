"""Solo attempts (PLATFORM.md "Solo attempts"): start, answer, finish, proctoring events.

The deadline is the server's: an attempt past it takes no more answers, and whoever touches it
next (its taker, its exam's owner, the sweeper) finishes it with what was answered. Every
change to an attempt first takes its row's lock (a no-op UPDATE: a row lock on PostgreSQL,
the write lock on SQLite), so a finish and an answer arriving together are ordered and the
score always counts exactly the answers stored before it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import exists, literal, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.db import Database
from persistence.exams import bank
from persistence.exams.availability import Platform, closed_reason
from persistence.exams.models import Attempt, AttemptAnswer, Exam
from persistence.exams.schema import without_answers
from persistence.exams.scoring import Score, parse_answer, score_attempt, zero
from persistence.ielts.result import takes_recording
from persistence.types import UTCDateTime, utcnow


class AttemptError(Exception):
    """A refusal: its HTTP status, stable code and message (`persistence` never imports the
    web layer, so this carries what the API turns into its error)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def not_found() -> AttemptError:
    return AttemptError(404, "not_found", "no such attempt")


def closed() -> AttemptError:
    return AttemptError(409, "attempt_closed", "this attempt is finished; it takes no more answers or events")


@dataclass(frozen=True)
class Taker:
    """Who takes an attempt: an account, or a Telegram user with none (the bot)."""

    user_id: int | None = None
    telegram_id: int | None = None

    def key(self, exam_id: int) -> str:
        who = f"u{self.user_id}" if self.user_id is not None else f"t{self.telegram_id}"
        return f"{who}:{exam_id}"

    def owns(self, attempt: Attempt) -> bool:
        if self.user_id is not None:
            return attempt.user_id == self.user_id
        return self.telegram_id is not None and attempt.telegram_id == self.telegram_id


def positions(attempt: Attempt) -> list[int]:
    served: list[int] = orjson.loads(attempt.order)
    return served


def served_questions(exam: Exam, attempt: Attempt) -> list[dict[str, Any]]:
    """The questions of the attempt in the order served, without answers, each with its `n`."""
    questions = bank.questions(exam)
    return [{"n": n, **without_answers(questions[n])} for n in positions(attempt) if n < len(questions)]


def _serve_order(exam: Exam, preview: bool, rng: random.Random) -> list[int]:
    order = list(range(exam.question_count))
    if preview and exam.free_question_limit:
        order = order[: exam.free_question_limit]  # 001 §2.4.1: the free version's first N
    if exam.mode == "trainer":
        rng.shuffle(order)  # 001 §2.4.1: a trainer serves its questions in random order
    return order


async def lock_attempt(session: AsyncSession, attempt_id: int) -> Attempt | None:
    await session.exec(update(Attempt).where(col(Attempt.id) == attempt_id).values(state=Attempt.state))
    return await session.get(Attempt, attempt_id, populate_existing=True)


async def _answers(session: AsyncSession, attempt_id: int) -> dict[int, dict[str, Any]]:
    rows = (await session.exec(select(AttemptAnswer).where(col(AttemptAnswer.attempt_id) == attempt_id))).all()
    return {row.position: orjson.loads(row.value) for row in rows}


async def _settle(
    session: AsyncSession, attempt: Attempt, exam: Exam, ended_by: str, result: Score | None = None
) -> None:
    """Finish a locked, in-progress attempt: scored from its stored answers unless `result`."""
    if result is None:
        answers = await _answers(session, attempt.id or 0)
        result = score_attempt(bank.questions(exam), [n for n in positions(attempt) if n < exam.question_count],
                               answers, exam.pass_percent)
    attempt.state, attempt.ended_by, attempt.finished_at, attempt.open_key = "finished", ended_by, utcnow(), None
    attempt.score, attempt.max_score, attempt.percent, attempt.passed = (
        result.score, result.max, result.percent, result.passed)
    session.add(attempt)
    await session.flush()


def overdue(attempt: Attempt) -> bool:
    return attempt.state == "in_progress" and attempt.deadline is not None and utcnow() >= attempt.deadline


@dataclass(frozen=True)
class Started:
    attempt: Attempt
    questions: list[dict[str, Any]]


async def start_in(
    session: AsyncSession, exam: Exam, taker: Taker, platform: Platform, *, preview: bool = False,
    rng: random.Random | None = None,
) -> Started:
    """Open an attempt inside the caller's transaction (a paid start pays in the same one)."""
    reason = closed_reason(exam, platform)
    if reason is not None:
        message = "the exam is not active" if reason == "exam_inactive" else f"this exam cannot be taken on {platform}"
        raise AttemptError(403, "platform_closed", message)
    assert exam.id is not None
    key = taker.key(exam.id)
    current = (await session.exec(select(Attempt).where(col(Attempt.open_key) == key))).first()
    if current is not None and current.id is not None:
        locked = await lock_attempt(session, current.id)
        if locked is not None and overdue(locked):
            await _settle(session, locked, exam, "deadline")
        elif locked is not None and locked.state == "in_progress":
            raise AttemptError(409, "attempt_in_progress", "finish the attempt in progress first", [{
                "loc": ["path", "exam_id"], "msg": "an attempt is in progress", "type": "attempt_in_progress",
                "attempt_id": locked.id}])
    now = utcnow()
    attempt = Attempt(
        exam_id=exam.id, user_id=taker.user_id, telegram_id=taker.telegram_id, platform=platform, open_key=key,
        started_at=now, deadline=now + timedelta(seconds=exam.time_limit_s) if exam.time_limit_s else None,
        order=orjson.dumps(_serve_order(exam, preview, rng or random.Random())).decode(),
    )
    # No savepoint here: with SQLite's Python driver a SAVEPOINT opened before any write begins
    # the transaction itself, and its RELEASE commits it — the attempt would outlive a payment
    # refused after it in the same transaction. A failed insert fails the caller's transaction.
    session.add(attempt)
    try:
        await session.flush()
    except IntegrityError as exc:  # a second start raced this one and won
        raise AttemptError(409, "attempt_in_progress", "finish the attempt in progress first") from exc
    return Started(attempt, served_questions(exam, attempt))


async def start(db: Database, exam: Exam, taker: Taker, platform: Platform, *, preview: bool = False) -> Started:
    async with db.transaction() as session:
        return await start_in(session, exam, taker, platform, preview=preview)


async def load(db: Database, attempt_id: int) -> tuple[Attempt, Exam]:
    """The attempt and its exam, finishing it first if its deadline has passed."""
    async with db.session() as session:
        attempt = await session.get(Attempt, attempt_id)
        exam = await session.get(Exam, attempt.exam_id) if attempt is not None else None
    if attempt is None or exam is None:
        raise not_found()
    if overdue(attempt):
        async with db.transaction() as session:
            locked = await lock_attempt(session, attempt_id)
            assert locked is not None
            if overdue(locked):
                await _settle(session, locked, exam, "deadline")
            attempt = locked
    return attempt, exam


async def answer(db: Database, attempt_id: int, taker: Taker, n: int, body: dict[str, Any]) -> None:
    """Store an answer. Read, checked, then written by one conditional statement: the write
    lock (SQLite's, or the attempt row's share lock on PostgreSQL) is held for that statement and
    its commit only, never across the checks, so a thousand attempts answering at once do not
    queue behind each other's reads."""
    async with db.session() as session:
        row = (await session.exec(
            select(Attempt, Exam).join(Exam, col(Exam.id) == col(Attempt.exam_id)).where(col(Attempt.id) == attempt_id)
        )).first()
    if row is None or not taker.owns(row[0]):
        raise not_found()
    attempt, exam = row
    if attempt.state == "in_progress" and not overdue(attempt):
        value = _checked_answer(attempt, exam, n, body)
        async with db.transaction() as session:
            if await _store_if_open(session, attempt_id, n, value):
                return
    await load(db, attempt_id)  # past its deadline: finished now, with what was answered
    raise closed()


def _checked_answer(attempt: Attempt, exam: Exam, n: int, body: dict[str, Any]) -> dict[str, Any]:
    questions = bank.questions(exam)
    if n not in positions(attempt) or n >= len(questions):
        raise AttemptError(422, "invalid", f"question {n} is not part of this attempt",
                           [{"loc": ["path", "n"], "msg": "not a question of this attempt", "type": "out_of_range"}])
    if takes_recording(exam.kind, exam.speaking_mode, bank.content(exam), n):
        raise AttemptError(422, "invalid", f"question {n} is answered by a recording: POST /api/attempts/"
                           f"{attempt.id}/audio?n={n}",
                           [{"loc": ["path", "n"], "msg": "a speaking answer is an uploaded recording",
                             "type": "audio_required"}])
    try:
        return parse_answer(questions[n], body)
    except ValueError as exc:
        problem = {"loc": ["body"], "msg": str(exc), "type": "bad_answer"}
        raise AttemptError(422, "invalid", str(exc), [problem]) from exc


async def _store_if_open(session: AsyncSession, attempt_id: int, n: int, value: dict[str, Any]) -> bool:
    """Upsert the answer only if the attempt is still open at this instant; False otherwise.

    The EXISTS reads the attempt inside the writing statement. On SQLite the statement holds the
    one write lock, so a finish is wholly before or after it. On PostgreSQL `FOR SHARE` waits
    for a finish holding the row and then sees its `finished` state, so an answer is never
    stored after the score was counted."""
    now = utcnow()
    still_open = (
        select(Attempt.id).where(
            col(Attempt.id) == attempt_id, col(Attempt.state) == "in_progress",
            or_(col(Attempt.deadline).is_(None), col(Attempt.deadline) > now),
        ).with_for_update(read=True)
    )
    source = select(
        literal(attempt_id), literal(n), literal(orjson.dumps(value).decode()), literal(now, UTCDateTime())
    ).where(exists(still_open))
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    statement = insert(AttemptAnswer).from_select(["attempt_id", "position", "value", "answered_at"], source)
    result = await session.exec(statement.on_conflict_do_update(
        index_elements=["attempt_id", "position"],
        set_={"value": statement.excluded.value, "answered_at": statement.excluded.answered_at}))
    return bool(result.rowcount)


async def finish(db: Database, attempt_id: int, taker: Taker) -> Attempt:
    """Finish and score (a second finish returns the same result)."""
    async with db.transaction() as session:
        attempt = await lock_attempt(session, attempt_id)
        if attempt is None or not taker.owns(attempt):
            raise not_found()
        if attempt.state == "in_progress":
            exam = await session.get(Exam, attempt.exam_id)
            assert exam is not None
            await _settle(session, attempt, exam, "deadline" if overdue(attempt) else "finish")
    return attempt


async def end_with_zero(session: AsyncSession, attempt: Attempt, ended_by: str) -> None:
    """A proctoring rule ended the attempt (000 §10: leaving fullscreen scores 0)."""
    exam = await session.get(Exam, attempt.exam_id)
    assert exam is not None
    await _settle(session, attempt, exam, ended_by, zero(positions(attempt)))


async def finish_overdue(db: Database, limit: int = 200) -> int:
    """The sweeper: finish attempts whose deadline has passed with what was answered."""
    async with db.session() as session:
        ids = list((await session.exec(
            select(Attempt.id).where(col(Attempt.state) == "in_progress", col(Attempt.deadline).is_not(None),
                                     col(Attempt.deadline) <= utcnow()).limit(limit))).all())
    for attempt_id in ids:
        if attempt_id is not None:
            await load(db, attempt_id)
    return len(ids)


async def answers_of(db: Database, attempt_id: int) -> dict[int, dict[str, Any]]:
    async with db.session() as session:
        return await _answers(session, attempt_id)


async def of_exam(db: Database, exam_id: int, *, limit: int, before_id: int | None) -> list[Attempt]:
    statement = select(Attempt).where(col(Attempt.exam_id) == exam_id)
    if before_id is not None:
        statement = statement.where(col(Attempt.id) < before_id)
    async with db.session() as session:
        return list((await session.exec(statement.order_by(col(Attempt.id).desc()).limit(limit))).all())


async def of_user(db: Database, user_id: int, *, limit: int, before_id: int | None) -> list[Attempt]:
    statement = select(Attempt).where(col(Attempt.user_id) == user_id)
    if before_id is not None:
        statement = statement.where(col(Attempt.id) < before_id)
    async with db.session() as session:
        return list((await session.exec(statement.order_by(col(Attempt.id).desc()).limit(limit))).all())


async def modules_of(db: Database, attempt: Attempt, exam: Exam) -> dict[str, dict[str, Any]] | None:
    """A finished attempt's result per module (mock exams), or None when the exam names none."""
    questions = bank.questions(exam)
    if attempt.state != "finished" or not any(q.get("module") for q in questions):
        return None
    served = [n for n in positions(attempt) if n < len(questions)]
    if attempt.ended_by == "fullscreen_exit":
        answers: dict[int, dict[str, Any]] = {}
        zeroed = score_attempt(questions, served, answers, exam.pass_percent).modules or {}
        return {name: {**entry, "score": 0, "percent": 0.0, "passed": False} for name, entry in zeroed.items()}
    return score_attempt(questions, served, await answers_of(db, attempt.id or 0), exam.pass_percent).modules
