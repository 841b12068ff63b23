"""An attempt's IELTS/CEFR result from the database: its answers and grades through
`result.graded_result`. Empty for standard exams and unfinished attempts, so callers merge it
into any attempt's result unconditionally.

`results_of` does it for a page of attempts at once (the attempt lists): their exams, answers
and grades in one query each, whatever the page's length, never one per attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlmodel import col, select

from persistence.db import Database
from persistence.exams import attempts, bank
from persistence.exams.models import Attempt, AttemptAnswer, Exam
from persistence.exams.schema import flat
from persistence.ielts.models import Grade
from persistence.ielts.result import GRADED_KINDS, graded_result


def _fields(
    attempt: Attempt, exam: Exam, answers: dict[int, dict[str, Any]], grades: dict[str, Grade]
) -> dict[str, Any]:
    content = bank.content(exam)
    questions = flat(content)
    served = [n for n in attempts.positions(attempt) if n < len(questions)]
    return graded_result(exam.kind, content, questions, served, answers, grades,
                         zeroed=attempt.ended_by == "fullscreen_exit")


async def results_of(
    db: Database, found: Sequence[Attempt], known: Mapping[int, Exam] | None = None
) -> dict[int, dict[str, Any]]:
    """The IELTS/CEFR result fields of each finished IELTS/CEFR attempt among `found`, by its id
    (attempts of other exams, or unfinished, are absent). Three queries at most (two when the
    attempts' exams are `known`)."""
    finished = [a for a in found if a.state == "finished" and a.id is not None]
    if not finished:
        return {}
    async with db.session() as session:
        exam_ids = sorted({a.exam_id for a in finished})
        exams = dict(known or {})
        if not set(exam_ids) <= set(exams):
            exams = {e.id or 0: e for e in (await session.exec(select(Exam).where(col(Exam.id).in_(exam_ids)))).all()}
        graded = [a for a in finished if a.exam_id in exams and exams[a.exam_id].kind in GRADED_KINDS]
        ids = [a.id for a in graded]
        if not ids:
            return {}
        answer_rows = (await session.exec(select(AttemptAnswer).where(col(AttemptAnswer.attempt_id).in_(ids)))).all()
        grade_rows = (await session.exec(select(Grade).where(col(Grade.attempt_id).in_(ids)))).all()
    answers: dict[int, dict[int, dict[str, Any]]] = {}
    for row in answer_rows:
        answers.setdefault(row.attempt_id, {})[row.position] = orjson.loads(row.value)
    grades: dict[int, dict[str, Grade]] = {}
    for grade in grade_rows:
        grades.setdefault(grade.attempt_id, {})[grade.section] = grade
    return {a.id: _fields(a, exams[a.exam_id], answers.get(a.id, {}), grades.get(a.id, {}))
            for a in graded if a.id is not None}


async def result_fields(db: Database, attempt: Attempt, exam: Exam) -> dict[str, Any]:
    if exam.kind not in GRADED_KINDS or attempt.state != "finished" or attempt.id is None:
        return {}
    return (await results_of(db, [attempt], {attempt.exam_id: exam})).get(attempt.id, {})
