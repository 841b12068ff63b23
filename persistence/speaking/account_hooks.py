"""Scheduled Speaking's part in account events (000 §8):

- the user's bookings join their data export (`GET /api/me/export`), each with its exam's
  title, times and whether the call took place; so do the slots they run as grader;
- deleting the account cancels its bookings of slots that have not started (the slot is free
  again for someone else); a past booking stays on record, as results do, under "deleted user".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import hooks
from persistence.exams.models import Exam
from persistence.speaking.models import SpeakingBooking, SpeakingSlot
from persistence.speaking.slots import state_of
from persistence.types import iso, utcnow


async def export_speaking(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = (await session.exec(
        select(SpeakingSlot, SpeakingBooking, Exam)
        .outerjoin(SpeakingBooking, col(SpeakingBooking.slot_id) == col(SpeakingSlot.id))
        .join(Exam, col(Exam.id) == col(SpeakingSlot.exam_id))
        .where((col(SpeakingBooking.candidate_id) == user_id) | (col(SpeakingSlot.grader_id) == user_id))
        .order_by(col(SpeakingSlot.starts_at), col(SpeakingSlot.id))
    )).all()
    now = utcnow()
    return [{
        "slot_id": slot.id, "exam_id": exam.id, "exam_title": exam.title,
        "role": "candidate" if booking is not None and booking.candidate_id == user_id else "grader",
        "starts_at": iso(slot.starts_at), "ends_at": iso(slot.ends_at), "state": state_of(slot, booking, now),
        "booked_at": iso(booking.booked_at) if booking is not None else None,
        "held_at": iso(booking.held_at) if booking is not None else None,
    } for slot, booking, exam in rows]


async def cancel_future_bookings(session: AsyncSession, user_id: int) -> None:
    future = select(SpeakingSlot.id).where(col(SpeakingSlot.starts_at) > utcnow())
    await session.exec(delete(SpeakingBooking).where(
        col(SpeakingBooking.candidate_id) == user_id, col(SpeakingBooking.slot_id).in_(future)))


def install() -> None:
    hooks.export_sections["speaking"] = export_speaking
    if cancel_future_bookings not in hooks.on_deleted:
        hooks.on_deleted.append(cancel_future_bookings)
