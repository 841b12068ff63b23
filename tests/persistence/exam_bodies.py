"""Exam bodies the exams tests share."""

from __future__ import annotations

from typing import Any


def mixed_exam(**settings: Any) -> dict[str, Any]:
    """One question of each type, plus an extra select_one."""
    return {
        "title": "Mixed exam",
        "questions": [
            {"type": "select_one", "text": "2 + 2?", "options": ["3", "4", "5"], "correct": 1},
            {"type": "select_many", "text": "Primes?", "options": ["2", "3", "4", "5"], "correct": [0, 1, 3]},
            {"type": "text", "text": "Capital of France?", "accepted": ["Paris"]},
            {"type": "free", "text": "Tell us about yourself."},
            {"type": "select_one", "text": "Extra: 1 + 1?", "options": ["2", "11"], "correct": 0, "extra": True},
        ],
        **settings,
    }
