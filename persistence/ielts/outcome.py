"""An attempt's IELTS/CEFR result from the database: its answers and grades through
`result.graded_result`. Empty for standard exams and unfinished attempts, so callers merge it
into any attempt's result unconditionally."""

from __future__ import annotations

from typing import Any

from persistence.db import Database
from persistence.exams import attempts, bank
from persistence.exams.models import Attempt, Exam
from persistence.exams.schema import flat
from persistence.ielts.grading import grades_of
from persistence.ielts.result import GRADED_KINDS, graded_result


async def result_fields(db: Database, attempt: Attempt, exam: Exam) -> dict[str, Any]:
    if exam.kind not in GRADED_KINDS or attempt.state != "finished" or attempt.id is None:
        return {}
    content = bank.content(exam)
    questions = flat(content)
    served = [n for n in attempts.positions(attempt) if n < len(questions)]
    answers = await attempts.answers_of(db, attempt.id)
    grades = await grades_of(db, attempt.id)
    return graded_result(exam.kind, content, questions, served, answers, grades,
                         zeroed=attempt.ended_by == "fullscreen_exit")
