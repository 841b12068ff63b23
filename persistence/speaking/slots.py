"""Publishing, booking and cancelling Speaking slots, and recording whether a call took place.

Rules (000 §14, issue 21): only an IELTS/CEFR exam whose `speaking_mode` is "scheduled" has
slots. A grader's slots never overlap (publishing takes a lock on the grader's user row, so two
publishes racing cannot both pass the overlap check). A candidate books a future slot, one per
exam (of a paid exam, only while holding a paid attempt of it), and may cancel until it starts;
two candidates racing for one slot are decided by the booking's primary key, not by the check
before it. The room opens `ROOM_OPENS_BEFORE` before the start and closes `ROOM_CLOSES_AFTER`
after the end; the state a slot shows is derived: free, booked, held (both parties were in the
room together) or missed (closed without that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from persistence.accounts.models import User
from persistence.db import Database
from persistence.exams.models import Attempt, Exam
from persistence.speaking.models import SpeakingBooking, SpeakingSlot
from persistence.types import utcnow

ROOM_OPENS_BEFORE = timedelta(minutes=5)
ROOM_CLOSES_AFTER = timedelta(minutes=10)
MIN_DURATION_MIN, MAX_DURATION_MIN = 5, 60
MAX_AHEAD = timedelta(days=366)
SCHEDULED_KINDS = frozenset({"ielts_academic", "ielts_general", "cefr"})
Role = Literal["grader", "candidate"]


class SpeakingError(Exception):
    """A refusal: HTTP status, stable code, message (the API turns it into its error)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def slot_not_found() -> SpeakingError:
    return SpeakingError(404, "not_found", "no such speaking slot")


def has_scheduled_speaking(exam: Exam) -> bool:
    return exam.kind in SCHEDULED_KINDS and exam.speaking_mode == "scheduled"


def require_scheduled(exam: Exam) -> None:
    if not has_scheduled_speaking(exam):
        raise SpeakingError(409, "speaking_not_scheduled",
                            "this exam's speaking is not a scheduled live call (IELTS/CEFR, speaking_mode scheduled)")


def display_name(user: User | None) -> str:
    if user is None or user.deleted_at is not None:
        return "deleted user"
    full = " ".join(part for part in (user.first_name, user.last_name) if part)
    return full or user.username or "user"


def room_opens_at(slot: SpeakingSlot) -> datetime:
    return slot.starts_at - ROOM_OPENS_BEFORE


def room_closes_at(slot: SpeakingSlot) -> datetime:
    return slot.ends_at + ROOM_CLOSES_AFTER


def state_of(slot: SpeakingSlot, booking: SpeakingBooking | None, now: datetime) -> str:
    if booking is None:
        return "free"
    if booking.held_at is not None:
        return "held"
    return "missed" if now >= room_closes_at(slot) else "booked"


@dataclass(frozen=True)
class SlotRecord:
    """A slot with what surrounds it: its exam, its booking and the two people."""

    slot: SpeakingSlot
    exam: Exam
    booking: SpeakingBooking | None
    grader: User | None
    candidate: User | None

    def role_of(self, user_id: int) -> Role | None:
        if self.slot.grader_id == user_id:
            return "grader"
        if self.booking is not None and self.booking.candidate_id == user_id:
            return "candidate"
        return None


async def get(db: Database, slot_id: int) -> SlotRecord | None:
    async with db.session() as session:
        row = (await session.exec(
            select(SpeakingSlot, Exam, SpeakingBooking)
            .join(Exam, col(Exam.id) == col(SpeakingSlot.exam_id))
            .outerjoin(SpeakingBooking, col(SpeakingBooking.slot_id) == col(SpeakingSlot.id))
            .where(col(SpeakingSlot.id) == slot_id)
        )).first()
        if row is None or row[1].deleted_at is not None:
            return None
        slot, exam, booking = row
        grader = await session.get(User, slot.grader_id)
        candidate = await session.get(User, booking.candidate_id) if booking is not None else None
    return SlotRecord(slot, exam, booking, grader, candidate)


async def publish(db: Database, exam: Exam, publisher_id: int, starts_at: datetime, duration_min: int,
                  now: datetime | None = None) -> SpeakingSlot:
    now = now or utcnow()
    require_scheduled(exam)
    if starts_at <= now:
        raise SpeakingError(422, "invalid", "starts_at is in the past",
                            [{"loc": ["body", "starts_at"], "msg": "in the past", "type": "past"}])
    if starts_at > now + MAX_AHEAD:
        raise SpeakingError(422, "invalid", "starts_at is more than a year ahead",
                            [{"loc": ["body", "starts_at"], "msg": "too far ahead", "type": "too_far"}])
    ends_at = starts_at + timedelta(minutes=duration_min)
    grader_id = exam.owner_id if exam.owner_id is not None else publisher_id
    async with db.transaction() as session:
        # The grader's row lock orders concurrent publishes: the second sees the first's slot.
        await session.exec(update(User).where(col(User.id) == grader_id).values(role=User.role))
        clash = (await session.exec(select(SpeakingSlot).where(
            col(SpeakingSlot.grader_id) == grader_id, col(SpeakingSlot.starts_at) < ends_at,
            col(SpeakingSlot.ends_at) > starts_at))).first()
        if clash is not None:
            raise SpeakingError(409, "slot_overlap", "the grader has another slot at that time",
                                [{"loc": ["body", "starts_at"], "msg": "overlaps a slot", "type": "slot_overlap",
                                  "slot_id": clash.id}])
        slot = SpeakingSlot(exam_id=exam.id or 0, grader_id=grader_id, starts_at=starts_at, ends_at=ends_at)
        session.add(slot)
    return slot


async def listing(db: Database, exam_id: int, *, free_only: bool, limit: int, after_id: int | None = None,
                  now: datetime | None = None) -> list[SlotRecord]:
    """An exam's slots by start time: all of them (for its owner), or only the free future ones."""
    now = now or utcnow()
    statement = (select(SpeakingSlot, SpeakingBooking)
                 .outerjoin(SpeakingBooking, col(SpeakingBooking.slot_id) == col(SpeakingSlot.id))
                 .where(col(SpeakingSlot.exam_id) == exam_id))
    if free_only:
        statement = statement.where(col(SpeakingSlot.starts_at) > now, col(SpeakingBooking.slot_id).is_(None))
    async with db.session() as session:
        if after_id is not None:
            last = await session.get(SpeakingSlot, after_id)
            if last is not None:
                statement = statement.where(or_(col(SpeakingSlot.starts_at) > last.starts_at, and_(
                    col(SpeakingSlot.starts_at) == last.starts_at, col(SpeakingSlot.id) > after_id)))
        rows = (await session.exec(statement.order_by(col(SpeakingSlot.starts_at), col(SpeakingSlot.id))
                                   .limit(limit))).all()
        exam = await session.get(Exam, exam_id)
        assert exam is not None
        records = []
        for slot, booking in rows:
            candidate = await session.get(User, booking.candidate_id) if booking is not None else None
            records.append(SlotRecord(slot, exam, booking, None, candidate))
    return records


async def mine(db: Database, user_id: int, *, limit: int, after_id: int | None = None) -> list[SlotRecord]:
    """The slots the user takes part in, as candidate or grader, by start time."""
    statement = (select(SpeakingSlot.id)
                 .outerjoin(SpeakingBooking, col(SpeakingBooking.slot_id) == col(SpeakingSlot.id))
                 .where(or_(col(SpeakingBooking.candidate_id) == user_id,
                            and_(col(SpeakingSlot.grader_id) == user_id, col(SpeakingBooking.slot_id).is_not(None)))))
    async with db.session() as session:
        if after_id is not None:
            last = await session.get(SpeakingSlot, after_id)
            if last is not None:
                statement = statement.where(or_(col(SpeakingSlot.starts_at) > last.starts_at, and_(
                    col(SpeakingSlot.starts_at) == last.starts_at, col(SpeakingSlot.id) > after_id)))
        ids = (await session.exec(statement.order_by(col(SpeakingSlot.starts_at), col(SpeakingSlot.id))
                                  .limit(limit))).all()
    found = [await get(db, slot_id) for slot_id in ids if slot_id is not None]
    return [record for record in found if record is not None]


async def delete_slot(db: Database, slot_id: int, now: datetime | None = None) -> None:
    """Withdraw a slot that has not started (its booking, if any, goes with it)."""
    now = now or utcnow()
    async with db.transaction() as session:
        slot = await session.get(SpeakingSlot, slot_id, with_for_update=True)
        if slot is None:
            raise slot_not_found()
        if slot.starts_at <= now:
            raise SpeakingError(409, "slot_started", "the slot has started; it stays on record")
        await session.exec(delete(SpeakingBooking).where(col(SpeakingBooking.slot_id) == slot_id))
        await session.delete(slot)


async def has_paid_attempt(db: Database, exam_id: int, user_id: int) -> bool:
    """Whether the user started an attempt of the exam that was paid for (a free preview of a
    paid exam is not one). Attempts are never deleted, so the answer cannot turn false."""
    async with db.session() as session:
        found = (await session.exec(select(Attempt.id).where(
            col(Attempt.exam_id) == exam_id, col(Attempt.user_id) == user_id, col(Attempt.paid) > 0).limit(1))).first()
    return found is not None


async def book(db: Database, slot_id: int, candidate_id: int, now: datetime | None = None, *,
               staff: bool = False) -> SpeakingBooking:
    """Book a slot for `candidate_id`. A paid exam's Speaking is part of what its price buys, so
    its slots are booked only by someone who holds a paid attempt of it (`402 payment_required`
    otherwise); the exam's owner and admins (`staff`) are exempt. A free exam's slots are open
    to any signed-in user, as the exam itself is."""
    now = now or utcnow()
    record = await get(db, slot_id)
    if record is None:
        raise slot_not_found()
    require_scheduled(record.exam)
    if not record.exam.active:
        raise SpeakingError(409, "exam_inactive", "the exam is not active")
    if record.slot.grader_id == candidate_id:
        raise SpeakingError(403, "forbidden", "the grader cannot book their own slot")
    exempt = staff or record.exam.owner_id == candidate_id
    if record.exam.price > 0 and not exempt and not await has_paid_attempt(db, record.exam.id or 0, candidate_id):
        raise SpeakingError(402, "payment_required",
                            "this exam is paid: start (and pay for) an attempt of it, then book its Speaking",
                            [{"loc": ["path", "slot_id"], "msg": "no paid attempt of the exam",
                              "type": "payment_required", "exam_id": record.exam.id}])
    if record.slot.starts_at <= now:
        raise SpeakingError(409, "slot_started", "the slot has started; book a later one")
    if record.booking is not None:
        raise _taken_or_booked(record.booking, candidate_id)
    booking = SpeakingBooking(slot_id=slot_id, exam_id=record.exam.id or 0, candidate_id=candidate_id, booked_at=now)
    try:
        async with db.transaction() as session:
            session.add(booking)
    except IntegrityError as exc:  # a race lost: the slot's key, or the candidate's one per exam
        raise await _why_refused(db, slot_id, record.exam.id or 0, candidate_id) from exc
    return booking


def _taken_or_booked(booking: SpeakingBooking, candidate_id: int) -> SpeakingError:
    if booking.candidate_id == candidate_id:
        return SpeakingError(409, "already_booked", "you have booked this slot already")
    return SpeakingError(409, "slot_taken", "another candidate has booked this slot")


async def _why_refused(db: Database, slot_id: int, exam_id: int, candidate_id: int) -> SpeakingError:
    async with db.session() as session:
        taken = await session.get(SpeakingBooking, slot_id)
        if taken is not None:
            return _taken_or_booked(taken, candidate_id)
        other = (await session.exec(select(SpeakingBooking).where(
            col(SpeakingBooking.exam_id) == exam_id, col(SpeakingBooking.candidate_id) == candidate_id))).first()
    if other is not None:
        return already_booked_elsewhere(other.slot_id)
    return SpeakingError(409, "slot_taken", "another candidate has booked this slot")


def already_booked_elsewhere(slot_id: int) -> SpeakingError:
    return SpeakingError(409, "already_booked", "you have a booking for this exam already; cancel it first",
                         [{"loc": ["path", "slot_id"], "msg": "one booking per exam", "type": "already_booked",
                           "slot_id": slot_id}])


async def cancel(db: Database, slot_id: int, candidate_id: int, now: datetime | None = None) -> None:
    now = now or utcnow()
    async with db.transaction() as session:
        row = (await session.exec(select(SpeakingSlot, SpeakingBooking)
                                  .join(SpeakingBooking, col(SpeakingBooking.slot_id) == col(SpeakingSlot.id))
                                  .where(col(SpeakingSlot.id) == slot_id,
                                         col(SpeakingBooking.candidate_id) == candidate_id))).first()
        if row is None:
            raise SpeakingError(404, "not_found", "you have no booking of this slot")
        if row[0].starts_at <= now:
            raise SpeakingError(409, "slot_started", "the slot has started; a booking can be cancelled only before")
        await session.exec(delete(SpeakingBooking).where(col(SpeakingBooking.slot_id) == slot_id))


async def record_held(db: Database, slot_id: int, now: datetime | None = None) -> bool:
    """Both parties are in the room: the call took place. True the first time only."""
    async with db.transaction() as session:
        result = await session.exec(update(SpeakingBooking)
                                    .where(col(SpeakingBooking.slot_id) == slot_id,
                                           col(SpeakingBooking.held_at).is_(None))
                                    .values(held_at=now or utcnow()))
    return bool(result.rowcount)
