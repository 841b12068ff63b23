"""Tables of IELTS and CEFR exams beside the exams' own (migration 0004).

A grader is named per exam by its owner; a grade is one human-graded section (writing or
speaking) of one attempt, replaced on regrading; an audio row is the metadata of one uploaded
speaking answer, whose bytes live in the audio store under `storage_key`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from persistence.accounts.models import User  # noqa: F401  (the table our foreign keys name must be known)
from persistence.exams.models import Attempt, Exam  # noqa: F401  (likewise)
from persistence.types import UTCDateTime, utcnow


class Grader(SQLModel, table=True):
    __tablename__ = "exam_graders"
    __table_args__ = (Index("ix_exam_graders_user", "user_id", "exam_id"),)

    exam_id: int = Field(foreign_key="exams.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Grade(SQLModel, table=True):
    """IELTS sections carry a `band` (0..9 by 0.5), CEFR sections a `percent` (0..100)."""

    __tablename__ = "exam_grades"

    attempt_id: int = Field(foreign_key="exam_attempts.id", primary_key=True)
    section: str = Field(max_length=16, primary_key=True)
    band: float | None = None
    percent: float | None = None
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    grader_id: int | None = Field(default=None, foreign_key="users.id")
    graded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AudioAnswer(SQLModel, table=True):
    __tablename__ = "exam_audio"

    attempt_id: int = Field(foreign_key="exam_attempts.id", primary_key=True)
    position: int = Field(primary_key=True)
    content_type: str = Field(max_length=32)
    size: int
    storage_key: str = Field(max_length=255)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
