"""Faces are counted on the server with OpenCV's bundled cascade; only sane JPEGs are read."""

from __future__ import annotations

import pytest

from persistence.exams import faces
from tests.persistence.exam_bodies import portrait_jpegs


def test_faces_are_counted() -> None:
    pictures = portrait_jpegs()
    assert faces.count_faces(pictures["one"]) == 1
    assert faces.count_faces(pictures["two"]) == 2
    assert faces.count_faces(pictures["none"]) == 0


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"0" * 100,  # not a JPEG
        b"\xff\xd8\xff\xe0" + b"\x00" * 50,  # a JPEG signature and nothing readable
        b"\xff\xd8\xff" + b"x" * (faces.MAX_BYTES + 1),  # too many bytes
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(faces.NotAJpeg):
        faces.count_faces(data)


def test_a_huge_declared_size_is_refused_before_decoding() -> None:
    one = portrait_jpegs()["one"]
    start = one.index(b"\xff\xc0")  # the start-of-frame header: precision, height, width
    bomb = one[: start + 5] + (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big") + one[start + 9 :]
    with pytest.raises(faces.NotAJpeg, match="too large"):
        faces.count_faces(bomb)
