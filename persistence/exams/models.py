"""Tables of the exams area: exams, solo attempts, their answers and proctoring events.

An exam's questions are one JSON document (they are read and written whole, by their owner);
an attempt's answers are one row each, so answering question 3 never rewrites question 2's
answer and two answers sent at once both land.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from persistence.accounts.models import User  # noqa: F401  (the table our foreign keys name must be known)
from persistence.types import UTCDateTime, utcnow


class Exam(SQLModel, table=True):
    __tablename__ = "exams"
    __table_args__ = (Index("ix_exams_owner", "owner_id", "id"), Index("ix_exams_active", "active", "id"))

    id: int | None = Field(default=None, primary_key=True)
    # NULL: an exam the platform itself ships (the seed 001 samples); admins edit those.
    owner_id: int | None = Field(default=None, foreign_key="users.id")
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    kind: str = Field(default="standard", max_length=16)
    mode: str = Field(default="exam", max_length=16)  # exam, trainer or mock (seed 001 §2.4)
    active: bool = True
    price: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    proctor_fullscreen: bool = False
    proctor_camera: bool = False
    show_in_bot: bool = False
    show_in_mobile: bool = False
    time_limit_s: int | None = None
    pass_percent: int = 60
    free_question_limit: int | None = None  # a trainer's free tier: only its first N questions
    # IELTS/CEFR speaking: "async" (an uploaded recording) or "scheduled" (a live call in a slot).
    speaking_mode: str = Field(default="async", max_length=16)
    # The exam as its owner wrote it (questions or sections with their answers), JSON.
    content: str = Field(sa_column=Column(Text, nullable=False))
    question_count: int = 0
    sample_key: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Attempt(SQLModel, table=True):
    """One solo attempt. `open_key` ("user:exam", or "tg:telegram_id:exam") is set while the
    attempt is in progress and cleared when it finishes: its uniqueness is what allows one
    attempt in progress per person and exam, whatever process or race starts a second."""

    __tablename__ = "exam_attempts"
    __table_args__ = (Index("ix_exam_attempts_exam", "exam_id", "id"), Index("ix_exam_attempts_user", "user_id", "id"))

    id: int | None = Field(default=None, primary_key=True)
    exam_id: int = Field(foreign_key="exams.id")
    user_id: int | None = Field(default=None, foreign_key="users.id")
    telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    platform: str = Field(max_length=8)
    state: str = Field(default="in_progress", max_length=16)  # in_progress or finished
    open_key: str | None = Field(default=None, max_length=48, unique=True)
    ended_by: str | None = Field(default=None, max_length=16)  # finish, deadline, fullscreen_exit
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    order: str = Field(default="[]", sa_column=Column("question_order", Text, nullable=False, default="[]"))
    score: int | None = None
    max_score: int | None = None
    percent: float | None = None
    passed: bool | None = None
    paid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class AttemptAnswer(SQLModel, table=True):
    __tablename__ = "exam_attempt_answers"

    attempt_id: int = Field(foreign_key="exam_attempts.id", primary_key=True)
    position: int = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))  # JSON: the answer as sent
    answered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProctorEvent(SQLModel, table=True):
    """A proctoring event of an attempt: a fullscreen exit, a client report, or a snapshot the
    server counted faces on (`source="server"`). `violation` is what the exam's owner sees."""

    __tablename__ = "exam_proctor_events"
    __table_args__ = (Index("ix_exam_proctor_events_attempt", "attempt_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="exam_attempts.id")
    type: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    face_count: int | None = None
    source: str = Field(default="client", max_length=8)
    violation: bool = False
    file: str | None = Field(default=None, max_length=255)
