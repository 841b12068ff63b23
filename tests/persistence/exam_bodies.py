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


def portrait_jpegs() -> dict[str, bytes]:
    """JPEGs with one face, two faces and none, made from matplotlib's bundled portrait of
    Grace Hopper (a test dependency ships it; nothing is downloaded)."""
    import cv2
    import numpy as np
    from matplotlib import cbook

    image = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert image is not None
    blank = np.full_like(image, 180)

    def jpeg(picture: Any) -> bytes:
        ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        return bytes(encoded.tobytes())

    return {"one": jpeg(image), "two": jpeg(np.hstack([image, image])), "none": jpeg(blank)}
