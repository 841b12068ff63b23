"""Exams, solo attempts, their answers and proctoring events; the shipped sample exams.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from persistence.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    exams = op.create_table(
        "exams",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False, server_default="standard"),
        sa.Column("mode", sa.String(16), nullable=False, server_default="exam"),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("proctor_fullscreen", sa.Boolean, nullable=False),
        sa.Column("proctor_camera", sa.Boolean, nullable=False),
        sa.Column("show_in_bot", sa.Boolean, nullable=False),
        sa.Column("show_in_mobile", sa.Boolean, nullable=False),
        sa.Column("time_limit_s", sa.Integer),
        sa.Column("pass_percent", sa.Integer, nullable=False),
        sa.Column("free_question_limit", sa.Integer),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("question_count", sa.Integer, nullable=False),
        sa.Column("sample_key", sa.String(64), unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime()),
        sa.CheckConstraint("price >= 0", name="ck_exams_price_not_negative"),
    )
    op.create_index("ix_exams_owner", "exams", ["owner_id", "id"])
    op.create_index("ix_exams_active", "exams", ["active", "id"])
    op.create_table(
        "exam_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("exam_id", sa.Integer, sa.ForeignKey("exams.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("telegram_id", sa.BigInteger),
        sa.Column("platform", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("open_key", sa.String(48), unique=True),
        sa.Column("ended_by", sa.String(16)),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("deadline", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("question_order", sa.Text, nullable=False, server_default="[]"),
        sa.Column("score", sa.Integer),
        sa.Column("max_score", sa.Integer),
        sa.Column("percent", sa.Float),
        sa.Column("passed", sa.Boolean),
        sa.Column("paid", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_exam_attempts_exam", "exam_attempts", ["exam_id", "id"])
    op.create_index("ix_exam_attempts_user", "exam_attempts", ["user_id", "id"])
    op.create_table(
        "exam_attempt_answers",
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("exam_attempts.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "exam_proctor_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("exam_attempts.id"), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("face_count", sa.Integer),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("violation", sa.Boolean, nullable=False),
        sa.Column("file", sa.String(255)),
    )
    op.create_index("ix_exam_proctor_events_attempt", "exam_proctor_events", ["attempt_id", "id"])
    _insert_samples(exams)


def _insert_samples(exams: sa.Table) -> None:
    """The trainer and mock exams of seed 001, so a fresh install shows both kinds."""
    from persistence.exams.samples import sample_rows

    # Only this revision's columns: the model grows columns later revisions add (0004's
    # speaking_mode), which this table does not have yet.
    op.bulk_insert(exams, [{key: value for key, value in row.items() if key in exams.c} for row in sample_rows()])


def downgrade() -> None:
    op.drop_table("exam_proctor_events")
    op.drop_table("exam_attempt_answers")
    op.drop_table("exam_attempts")
    op.drop_table("exams")
