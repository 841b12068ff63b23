"""The exams' part in account events (000 §8):

- a user's attempts join their data export (`GET /api/me/export`: "everything stored about the
  user"), each with its exam's title, result, answers and proctoring events (snapshot pictures
  are listed, not embedded);
- deleting the account deletes the camera snapshots of its attempts (pictures of a face are
  personal data); scores stay, as the results of group games do, under "deleted user".
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import hooks
from persistence.exams import proctoring
from persistence.exams.models import Attempt, AttemptAnswer, Exam, ProctorEvent
from persistence.types import iso


async def export_attempts(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = (await session.exec(
        select(Attempt, Exam).join(Exam, col(Exam.id) == col(Attempt.exam_id))
        .where(col(Attempt.user_id) == user_id).order_by(col(Attempt.id))
    )).all()
    out = []
    for attempt, exam in rows:
        answers = (await session.exec(select(AttemptAnswer).where(col(AttemptAnswer.attempt_id) == attempt.id)
                                      .order_by(col(AttemptAnswer.position)))).all()
        events = (await session.exec(select(ProctorEvent).where(col(ProctorEvent.attempt_id) == attempt.id)
                                     .order_by(col(ProctorEvent.id)))).all()
        out.append({
            "id": attempt.id, "exam_id": exam.id, "exam_title": exam.title, "platform": attempt.platform,
            "state": attempt.state, "ended_by": attempt.ended_by, "started_at": iso(attempt.started_at),
            "deadline": iso(attempt.deadline), "finished_at": iso(attempt.finished_at), "score": attempt.score,
            "max": attempt.max_score, "percent": attempt.percent, "passed": attempt.passed, "paid": attempt.paid,
            "answers": [{"n": a.position, **orjson.loads(a.value), "answered_at": iso(a.answered_at)} for a in answers],
            "proctoring": [{"type": e.type, "at": iso(e.at), "face_count": e.face_count, "source": e.source,
                            "violation": e.violation, "snapshot": e.file is not None} for e in events],
        })
    return out


async def delete_snapshots(session: AsyncSession, user_id: int) -> None:
    """Forget the user's snapshot pictures (in the deletion's transaction) and remove them from
    the process's blob store. A deletion that then fails has still removed the pictures: privacy
    errs that way. A store that cannot delete (S3 unreachable) fails the deletion instead, so
    the pictures stay referenced and a retry finds them."""
    events = (await session.exec(
        select(ProctorEvent).join(Attempt, col(Attempt.id) == col(ProctorEvent.attempt_id))
        .where(col(Attempt.user_id) == user_id, col(ProctorEvent.file).is_not(None))
    )).all()
    files = [event.file for event in events if event.file]
    for event in events:
        event.file = None
        session.add(event)
    await session.flush()
    await proctoring.remove_pictures(files)


def install() -> None:
    hooks.export_sections["attempts"] = export_attempts
    if delete_snapshots not in hooks.on_deleted:
        hooks.on_deleted.append(delete_snapshots)
