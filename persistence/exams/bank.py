"""The exam bank: create, read, edit, delete and list exams.

Exams are soft-deleted (`deleted_at`): their attempts keep pointing at them, and a deleted exam
is found by nobody. Lists use keyset paging on the id, newest first.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlmodel import col, func, select

from persistence.db import Database
from persistence.exams.models import Exam
from persistence.exams.schema import ExamIn, content_of, flat, parse_exam, without_answers
from persistence.types import iso, utcnow


def apply_spec(exam: Exam, spec: ExamIn) -> Exam:
    exam.title = spec.title
    exam.description = spec.description
    exam.kind = spec.kind
    exam.mode = spec.mode
    exam.active = spec.active
    exam.price = spec.price
    exam.proctor_fullscreen = spec.proctoring.fullscreen
    exam.proctor_camera = spec.proctoring.camera
    exam.show_in_bot = spec.show_in_bot
    exam.show_in_mobile = spec.show_in_mobile
    exam.time_limit_s = spec.time_limit_s
    exam.pass_percent = spec.pass_percent
    exam.free_question_limit = spec.free_question_limit
    exam.speaking_mode = spec.speaking_mode
    exam.content = orjson.dumps(content_of(spec)).decode()
    exam.question_count = len(spec.flat_questions())
    return exam


def content(exam: Exam) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(exam.content)
    return data


def questions(exam: Exam) -> list[dict[str, Any]]:
    """The exam's questions with their answers, in position order."""
    return flat(content(exam))


def settings_of(exam: Exam) -> dict[str, Any]:
    return {
        "title": exam.title, "description": exam.description, "kind": exam.kind, "mode": exam.mode,
        "active": exam.active, "price": exam.price,
        "proctoring": {"fullscreen": exam.proctor_fullscreen, "camera": exam.proctor_camera},
        "show_in_bot": exam.show_in_bot, "show_in_mobile": exam.show_in_mobile,
        "time_limit_s": exam.time_limit_s, "pass_percent": exam.pass_percent,
        "free_question_limit": exam.free_question_limit, "speaking_mode": exam.speaking_mode,
    }


def view(exam: Exam, *, with_answers: bool) -> dict[str, Any]:
    """The exam as the API shows it; `correct`/`accepted` only for its owner (or an admin)."""
    stored = content(exam)
    if not with_answers:
        if "sections" in stored:
            stored = {"sections": [{**s, "questions": [without_answers(q) for q in s["questions"]]}
                                   for s in stored["sections"]]}
        else:
            stored = {"questions": [without_answers(q) for q in stored["questions"]]}
    return {
        "id": exam.id, "owner": exam.owner_id, **settings_of(exam), **stored,
        "question_count": exam.question_count, "created_at": iso(exam.created_at),
        "updated_at": iso(exam.updated_at),
    }


def summary(exam: Exam) -> dict[str, Any]:
    """A list entry: the settings without the questions."""
    return {"id": exam.id, "owner": exam.owner_id, **settings_of(exam), "question_count": exam.question_count,
            "created_at": iso(exam.created_at)}


async def create(db: Database, owner_id: int | None, data: object, *, sample_key: str | None = None) -> Exam:
    exam = apply_spec(Exam(owner_id=owner_id, title="", content="{}", sample_key=sample_key), parse_exam(data))
    async with db.transaction() as session:
        session.add(exam)
    return exam


async def get(db: Database, exam_id: int) -> Exam | None:
    async with db.session() as session:
        exam = await session.get(Exam, exam_id)
    return exam if exam is not None and exam.deleted_at is None else None


async def update(db: Database, exam_id: int, patch: dict[str, Any]) -> Exam | None:
    """Apply a partial edit: the stored exam with `patch`'s fields over it, validated whole."""
    async with db.transaction() as session:
        exam = await session.get(Exam, exam_id, with_for_update=True)
        if exam is None or exam.deleted_at is not None:
            return None
        merged = {**settings_of(exam), **content(exam)}
        if "proctoring" in patch and isinstance(patch["proctoring"], dict):
            patch = {**patch, "proctoring": {**merged["proctoring"], **patch["proctoring"]}}
        if "questions" in patch:
            merged.pop("sections", None)
        if "sections" in patch:
            merged.pop("questions", None)
        apply_spec(exam, parse_exam({**merged, **patch}))
        exam.updated_at = utcnow()
        session.add(exam)
    return exam


async def delete(db: Database, exam_id: int) -> bool:
    async with db.transaction() as session:
        exam = await session.get(Exam, exam_id, with_for_update=True)
        if exam is None or exam.deleted_at is not None:
            return False
        exam.deleted_at = utcnow()
        exam.active = False
        session.add(exam)
    return True


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def listing(
    db: Database, *, owner_id: int | None = None, query: str | None = None, limit: int = 20,
    before_id: int | None = None,
) -> list[Exam]:
    """Exams newest first: one owner's (all of them), or a search of the active ones by title."""
    statement = select(Exam).where(col(Exam.deleted_at).is_(None))
    if owner_id is not None:
        statement = statement.where(col(Exam.owner_id) == owner_id)
    else:
        statement = statement.where(col(Exam.active).is_(True))
    if query:
        pattern = f"%{_escape_like(query.casefold())}%"
        statement = statement.where(func.lower(col(Exam.title)).like(pattern, escape="\\"))
    if before_id is not None:
        statement = statement.where(col(Exam.id) < before_id)
    async with db.session() as session:
        return list((await session.exec(statement.order_by(col(Exam.id).desc()).limit(limit))).all())
