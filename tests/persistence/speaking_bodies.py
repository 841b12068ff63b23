"""Exam bodies for the Speaking tests: an IELTS exam whose speaking is a scheduled call."""

from __future__ import annotations

from typing import Any


def scheduled_ielts(**settings: Any) -> dict[str, Any]:
    return {
        "title": "IELTS Academic mock", "kind": "ielts_academic", "speaking_mode": "scheduled",
        "sections": [  # an IELTS exam has all four skills, each once
            {"skill": "listening", "questions": [
                {"type": "select_one", "text": "Where is the meeting?", "options": ["Hall", "Library"], "correct": 1}]},
            {"skill": "reading", "questions": [
                {"type": "text", "text": "The river's name?", "accepted": ["Zarafshan"]}]},
            {"skill": "writing", "questions": [{"type": "free", "text": "Describe the chart."}]},
            {"skill": "speaking", "questions": [{"type": "free", "text": "Tell me about your home town."}]},
        ],
        **settings,
    }
