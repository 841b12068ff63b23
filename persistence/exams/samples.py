"""The sample exams shipped with the product (seed 001 §2.4): a trainer and a mock exam per
level, so a fresh install shows both kinds. They belong to the platform (`owner_id` NULL;
admins edit them) and are written once, by migration 0003, keyed by `sample_key`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from persistence.exams.bank import apply_spec
from persistence.exams.models import Exam
from persistence.exams.schema import parse_exam
from persistence.types import utcnow

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def sample_rows() -> list[dict[str, Any]]:
    """The `exams` rows of every bundled sample, validated like any exam."""
    rows = []
    now = utcnow()
    for path in sorted(SAMPLES_DIR.glob("*.json")):
        spec = parse_exam(orjson.loads(path.read_bytes()))
        exam = apply_spec(Exam(title="", content="{}", sample_key=path.stem), spec)
        row = exam.model_dump(exclude={"id"})
        row["created_at"] = row["updated_at"] = now
        rows.append(row)
    return rows
