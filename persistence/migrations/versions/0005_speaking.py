"""Scheduled Speaking: slots a grader publishes and the candidates' bookings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from persistence.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "speaking_slots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("exam_id", sa.Integer, sa.ForeignKey("exams.id"), nullable=False),
        sa.Column("grader_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_speaking_slots_ends_after_start"),
    )
    op.create_index("ix_speaking_slots_exam", "speaking_slots", ["exam_id", "starts_at"])
    op.create_index("ix_speaking_slots_grader", "speaking_slots", ["grader_id", "starts_at"])
    op.create_table(
        "speaking_bookings",
        sa.Column("slot_id", sa.Integer, sa.ForeignKey("speaking_slots.id"), primary_key=True),
        sa.Column("exam_id", sa.Integer, sa.ForeignKey("exams.id"), nullable=False),
        sa.Column("candidate_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("booked_at", UTCDateTime(), nullable=False),
        sa.Column("held_at", UTCDateTime()),
        sa.UniqueConstraint("exam_id", "candidate_id", name="uq_speaking_bookings_candidate"),
    )
    op.create_index("ix_speaking_bookings_candidate", "speaking_bookings", ["candidate_id"])


def downgrade() -> None:
    op.drop_index("ix_speaking_bookings_candidate", table_name="speaking_bookings")
    op.drop_table("speaking_bookings")
    op.drop_index("ix_speaking_slots_grader", table_name="speaking_slots")
    op.drop_index("ix_speaking_slots_exam", table_name="speaking_slots")
    op.drop_table("speaking_slots")
