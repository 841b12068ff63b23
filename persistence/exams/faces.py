"""Counting faces on a proctoring snapshot, on the server (never a count the client claims).

OpenCV's frontal-face Haar cascade ships inside the `opencv-python-headless` wheel
(`cv2.data.haarcascades`), so no model is downloaded. Only JPEG is accepted: the bytes must
start with the JPEG signature and decode as an image no larger than `MAX_PIXELS`, so a
decompression bomb is refused before it is decoded whole.

OpenCV and NumPy are imported on the first snapshot, not with this module: they add ~28 MiB to
every serving process, and most processes never count a face.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import cv2

JPEG_SIGNATURE = b"\xff\xd8\xff"
MAX_BYTES = 1024 * 1024  # a 640x480 webcam JPEG is 30-100 KB
MAX_PIXELS = 4096 * 4096
DETECT_WIDTH = 640  # larger pictures are scaled down first: faster, and a webcam face stays large


class NotAJpeg(ValueError):
    pass


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    import cv2

    # `cv2.data` (no type stubs) names the folder the wheel ships its cascades in.
    cascade_file = str(cv2.data.haarcascades) + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(cascade_file)
    if cascade.empty():
        raise RuntimeError("OpenCV's bundled frontal-face cascade did not load")
    return cascade


# A CascadeClassifier is not safe to share between threads that detect at once.
_detect_lock = threading.Lock()


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's start-of-frame header, without decoding the pixels."""
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        length = int.from_bytes(data[index + 2:index + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height = int.from_bytes(data[index + 5:index + 7], "big")
            width = int.from_bytes(data[index + 7:index + 9], "big")
            return width, height
        index += 2 + length
    return None


def count_faces(data: bytes) -> int:
    """How many frontal faces the JPEG shows. NotAJpeg for anything else (or too large)."""
    if len(data) > MAX_BYTES:
        raise NotAJpeg(f"a snapshot is at most {MAX_BYTES} bytes")
    if not data.startswith(JPEG_SIGNATURE):
        raise NotAJpeg("a snapshot must be a JPEG image")
    size = _jpeg_size(data)
    if size is None or size[0] * size[1] > MAX_PIXELS or 0 in size:
        raise NotAJpeg("the JPEG has no readable size, or is too large")
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise NotAJpeg("the JPEG could not be decoded")
    height, width = image.shape[:2]
    if width > DETECT_WIDTH:
        image = cv2.resize(image, (DETECT_WIDTH, max(1, height * DETECT_WIDTH // width)))
    image = cv2.equalizeHist(image)
    with _detect_lock:
        found = _cascade().detectMultiScale(image, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
    return len(found)
