"""IELTS and CEFR: an exam's speaking mode, its graders, the human grades of an attempt's
writing and speaking, and the metadata of uploaded speaking audio.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from persistence.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exams") as batch:
        batch.add_column(sa.Column("speaking_mode", sa.String(16), nullable=False, server_default="async"))
    op.create_table(
        "exam_graders",
        sa.Column("exam_id", sa.Integer, sa.ForeignKey("exams.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_exam_graders_user", "exam_graders", ["user_id", "exam_id"])
    op.create_table(
        "exam_grades",
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("exam_attempts.id"), primary_key=True),
        sa.Column("section", sa.String(16), primary_key=True),
        sa.Column("band", sa.Float),
        sa.Column("percent", sa.Float),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("grader_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("graded_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "exam_audio",
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("exam_attempts.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exam_audio")
    op.drop_table("exam_grades")
    op.drop_index("ix_exam_graders_user", table_name="exam_graders")
    op.drop_table("exam_graders")
    with op.batch_alter_table("exams") as batch:
        batch.drop_column("speaking_mode")
