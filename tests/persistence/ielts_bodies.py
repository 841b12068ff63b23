"""IELTS and CEFR exam bodies and recordings the IELTS tests share."""

from __future__ import annotations

from typing import Any

# A WebM file's first bytes as MediaRecorder writes them: the EBML magic, then the "webm" doctype.
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm" + \
    bytes(range(256)) * 8
OGG = b"OggS\x00\x02" + bytes(200)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200)
MP3 = b"ID3\x04\x00\x00" + bytes(200)
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00" + bytes(200)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)

LISTENING = range(0, 2)
READING = range(2, 4)
WRITING = 4
SPEAKING = (5, 6)


def four_skills_exam(kind: str = "ielts_academic", **settings: Any) -> dict[str, Any]:
    """Listening 0–1 (select_one), Reading 2–3 (text), Writing 4, Speaking 5–6 (free)."""
    return {
        "title": f"{kind} practice",
        "kind": kind,
        "sections": [
            {"skill": "listening", "questions": [
                {"type": "select_one", "text": "Where is the meeting?", "options": ["Hall", "Library"], "correct": 1},
                {"type": "select_one", "text": "When?", "options": ["At 9", "At 10"], "correct": 0},
            ]},
            {"skill": "reading", "questions": [
                {"type": "text", "text": "The author's home town?", "accepted": ["Bukhara"]},
                {"type": "text", "text": "The river's name?", "accepted": ["Zarafshan"]},
            ]},
            {"skill": "writing", "questions": [{"type": "free", "text": "Task 2: do cities need more parks?"}]},
            {"skill": "speaking", "questions": [
                {"type": "free", "text": "Part 1: tell me about your home."},
                {"type": "free", "text": "Part 2: describe a journey."},
            ]},
        ],
        **settings,
    }
