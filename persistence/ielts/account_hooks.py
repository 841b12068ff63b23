"""IELTS/CEFR in account events (000 §8, §12–13):

- the data export lists the candidate's own grades (section, band or percent, comment, when)
  and their uploaded recordings (metadata; the audio is fetched by its own URL);
- deleting an account deletes its recordings (files and rows: a voice is personal data) and
  its grader appointments; grades stay with the attempt's scores, as results do.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import hooks
from persistence.exams.models import Attempt, Exam
from persistence.ielts.audio import remove
from persistence.ielts.models import AudioAnswer, Grade, Grader
from persistence.types import iso


async def export_grades(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = (await session.exec(
        select(Grade, Attempt, Exam).join(Attempt, col(Attempt.id) == col(Grade.attempt_id))
        .join(Exam, col(Exam.id) == col(Attempt.exam_id))
        .where(col(Attempt.user_id) == user_id).order_by(col(Grade.attempt_id), col(Grade.section))
    )).all()
    return [{"attempt_id": grade.attempt_id, "exam_id": exam.id, "exam_title": exam.title, "section": grade.section,
             "band": grade.band, "percent": grade.percent, "comment": grade.comment,
             "graded_at": iso(grade.graded_at)} for grade, _attempt, exam in rows]


async def export_recordings(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = (await session.exec(
        select(AudioAnswer).join(Attempt, col(Attempt.id) == col(AudioAnswer.attempt_id))
        .where(col(Attempt.user_id) == user_id).order_by(col(AudioAnswer.attempt_id), col(AudioAnswer.position))
    )).all()
    return [{"attempt_id": row.attempt_id, "n": row.position, "content_type": row.content_type, "size": row.size,
             "uploaded_at": iso(row.uploaded_at), "url": f"/api/attempts/{row.attempt_id}/audio/{row.position}"}
            for row in rows]


async def delete_recordings(session: AsyncSession, user_id: int) -> None:
    """Forget the user's recordings and grader appointments (in the deletion's transaction),
    then remove the blobs. A deletion that fails after has still removed them: privacy errs
    that way. A store that cannot delete (S3 unreachable) fails the deletion instead, so the
    recordings stay referenced and a retry finds them."""
    rows = (await session.exec(
        select(AudioAnswer).join(Attempt, col(Attempt.id) == col(AudioAnswer.attempt_id))
        .where(col(Attempt.user_id) == user_id)
    )).all()
    keys = [row.storage_key for row in rows]
    for row in rows:
        await session.delete(row)
    await session.exec(delete(Grader).where(col(Grader.user_id) == user_id))
    await session.flush()
    await remove(keys)


def install() -> None:
    hooks.export_sections["ielts_grades"] = export_grades
    hooks.export_sections["ielts_recordings"] = export_recordings
    if delete_recordings not in hooks.on_deleted:
        hooks.on_deleted.append(delete_recordings)
