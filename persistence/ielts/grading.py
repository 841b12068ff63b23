"""Human grading of IELTS and CEFR attempts: who grades an exam, the grades, the queue.

An exam's owner names graders (accounts) per exam; the owner, those graders and admins grade
its finished attempts' Writing and Speaking, except their own: nobody grades their own attempt
(`403 own_attempt`, checked under the attempt's lock). A grade is one row per attempt and
section, replaced when regraded (the last grader's word stands). The queue lists the finished
attempts of the exams a user owns or grades that still await a human grade and that the user
did not take, oldest attempt first, so the candidates who have waited longest are graded first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, or_
from sqlmodel import col, select

from persistence.accounts.models import User
from persistence.db import Database
from persistence.exams import bank
from persistence.exams.attempts import AttemptError, lock_attempt, not_found
from persistence.exams.models import Attempt, Exam
from persistence.ielts.models import Grade, Grader
from persistence.ielts.result import GRADED_KINDS, HUMAN_SKILLS, awaiting
from persistence.types import utcnow

DELETED_NAME = "deleted user"
MAX_COMMENT = 5000


def display_name(user: User | None) -> str:
    if user is None or user.deleted_at is not None:
        return DELETED_NAME
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return name or user.username or DELETED_NAME


async def is_grader(db: Database, exam_id: int, user_id: int) -> bool:
    async with db.session() as session:
        return await session.get(Grader, (exam_id, user_id)) is not None


async def find_user(db: Database, *, user_id: int | None = None, email: str | None = None) -> User | None:
    """A live account by id or (case-insensitive) email."""
    async with db.session() as session:
        if user_id is not None:
            user = await session.get(User, user_id)
        else:
            statement = select(User).where(col(User.email) == (email or "").strip().lower())
            user = (await session.exec(statement)).first()
    return user if user is not None and user.deleted_at is None else None


async def add_grader(db: Database, exam_id: int, user_id: int) -> None:
    async with db.transaction() as session:
        if await session.get(Grader, (exam_id, user_id)) is None:
            session.add(Grader(exam_id=exam_id, user_id=user_id))


async def remove_grader(db: Database, exam_id: int, user_id: int) -> bool:
    async with db.transaction() as session:
        result = await session.exec(delete(Grader).where(
            col(Grader.exam_id) == exam_id, col(Grader.user_id) == user_id))
        return bool(result.rowcount)


async def graders_of(db: Database, exam_id: int) -> list[dict[str, Any]]:
    async with db.session() as session:
        rows = (await session.exec(
            select(Grader, User).join(User, col(User.id) == col(Grader.user_id))
            .where(col(Grader.exam_id) == exam_id).order_by(col(Grader.added_at), col(Grader.user_id))
        )).all()
    return [{"user_id": grader.user_id, "name": display_name(user)} for grader, user in rows]


async def grades_of(db: Database, attempt_id: int) -> dict[str, Grade]:
    async with db.session() as session:
        rows = (await session.exec(select(Grade).where(col(Grade.attempt_id) == attempt_id))).all()
    return {row.section: row for row in rows}


def own_attempt() -> AttemptError:
    return AttemptError(403, "own_attempt", "nobody grades their own attempt; another grader or the owner does")


@dataclass(frozen=True)
class GradeIn:
    section: str
    band: float | None
    percent: float | None
    comment: str


async def set_grade(db: Database, attempt_id: int, grade: GradeIn, grader_id: int) -> None:
    """Store (or replace) a section's grade of a finished attempt, under the attempt's lock."""
    async with db.transaction() as session:
        attempt = await lock_attempt(session, attempt_id)
        if attempt is None:
            raise not_found()
        if attempt.user_id is not None and attempt.user_id == grader_id:
            raise own_attempt()
        if attempt.state != "finished":
            raise AttemptError(409, "attempt_not_finished", "an attempt is graded once it is finished")
        row = await session.get(Grade, (attempt_id, grade.section))
        row = row or Grade(attempt_id=attempt_id, section=grade.section)
        row.band, row.percent, row.comment = grade.band, grade.percent, grade.comment
        row.grader_id, row.graded_at = grader_id, utcnow()
        session.add(row)


def _fully_graded() -> Any:
    """SQL: the attempt has a grade for every human-graded section."""
    return and_(*[
        exists().where(col(Grade.attempt_id) == col(Attempt.id), col(Grade.section) == skill)
        for skill in HUMAN_SKILLS
    ])


@dataclass(frozen=True)
class QueueEntry:
    attempt: Attempt
    exam: Exam
    candidate: str
    awaiting: list[str]
    graded: dict[str, Grade]


async def queue(db: Database, user_id: int, *, limit: int, after_id: int | None) -> tuple[list[QueueEntry], int | None]:
    """A page of attempts awaiting a grade from `user_id`, and the cursor of the next page.

    SQL narrows to finished attempts of IELTS/CEFR exams the user owns or grades that lack a
    grade; the exam's own sections then decide (an exam without Speaking awaits only Writing),
    so a page may hold fewer than `limit` entries while more follow."""
    grades_exam = exists().where(col(Grader.exam_id) == col(Exam.id), col(Grader.user_id) == user_id)
    statement = (
        select(Attempt, Exam, User).join(Exam, col(Exam.id) == col(Attempt.exam_id))
        .join(User, col(User.id) == col(Attempt.user_id), isouter=True)
        .where(col(Attempt.state) == "finished", col(Exam.kind).in_(GRADED_KINDS), col(Exam.deleted_at).is_(None),
               or_(col(Exam.owner_id) == user_id, grades_exam), ~_fully_graded(),
               # one's own attempt is never one's to grade (a NULL user_id is a bot taker's)
               or_(col(Attempt.user_id).is_(None), col(Attempt.user_id) != user_id))
    )
    if after_id is not None:
        statement = statement.where(col(Attempt.id) > after_id)
    async with db.session() as session:
        rows: Sequence[Any] = (await session.exec(statement.order_by(col(Attempt.id)).limit(limit))).all()
        ids = [attempt.id for attempt, _exam, _user in rows]
        grade_rows = (await session.exec(select(Grade).where(col(Grade.attempt_id).in_(ids)))).all() if ids else []
    by_attempt: dict[int, dict[str, Grade]] = {}
    for grade in grade_rows:
        by_attempt.setdefault(grade.attempt_id, {})[grade.section] = grade
    entries = []
    for attempt, exam, user in rows:
        graded = by_attempt.get(attempt.id or 0, {})
        missing = awaiting(bank.content(exam), graded)
        if missing:
            entries.append(QueueEntry(attempt, exam, display_name(user), missing, graded))
    next_cursor = rows[-1][0].id if len(rows) == limit else None
    return entries, next_cursor
