"""Tables of scheduled Speaking: the slots a grader publishes and the bookings of candidates.

A booking is its own row, keyed by the slot: the primary key lets exactly one of two candidates
racing for one slot in (whatever process or machine each request reaches), and the unique
(exam, candidate) pair allows one booking per candidate per exam. Cancelling deletes the row.
Whether the call took place is `held_at` (both parties were in the room at the same moment);
"missed" is not stored: it is a booked slot whose room has closed without it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from persistence.accounts.models import User  # noqa: F401  (the table our foreign keys name must be known)
from persistence.exams.models import Exam  # noqa: F401
from persistence.types import UTCDateTime, utcnow


class SpeakingSlot(SQLModel, table=True):
    __tablename__ = "speaking_slots"
    __table_args__ = (
        Index("ix_speaking_slots_exam", "exam_id", "starts_at"),
        Index("ix_speaking_slots_grader", "grader_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    exam_id: int = Field(foreign_key="exams.id")
    # Who talks to the candidate: the exam's owner (the publisher, for a platform-shipped exam).
    grader_id: int = Field(foreign_key="users.id")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SpeakingBooking(SQLModel, table=True):
    __tablename__ = "speaking_bookings"
    __table_args__ = (
        UniqueConstraint("exam_id", "candidate_id", name="uq_speaking_bookings_candidate"),
        Index("ix_speaking_bookings_candidate", "candidate_id"),
    )

    slot_id: int = Field(foreign_key="speaking_slots.id", primary_key=True)
    exam_id: int = Field(foreign_key="exams.id")  # the slot's, copied for the uniqueness above
    candidate_id: int = Field(foreign_key="users.id")
    booked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
