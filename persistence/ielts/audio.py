"""Speaking answers as audio files: what a file is (by its bytes), where it is kept, its row.

The type is read from the content's magic bytes, never from the client's header alone: WebM
(EBML with the "webm" doctype: Chrome's and Firefox's MediaRecorder), Ogg, MP4/M4A ("ftyp" box:
Safari's MediaRecorder), MPEG audio (ID3 tag or an MPEG frame sync) and WAV (RIFF/WAVE).

Files are kept under `<data_dir>/ielts/audio/<exam>/<attempt>/`, written and removed by the
small functions below only, so an S3-compatible store can replace them later; the row keeps
the file's absolute path (`storage_key`) so that deleting an account (which knows no data
directory) can remove its recordings. Re-uploading an answer replaces the row and the file.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sqlmodel import col, select

from persistence.db import Database
from persistence.exams.attempts import _store_if_open as store_if_open
from persistence.ielts.models import AudioAnswer
from persistence.types import utcnow

MAX_AUDIO_BYTES = 20 * 1024 * 1024
AUDIO_DIR = ("ielts", "audio")
EXTENSIONS = {"audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/mpeg": "mp3", "audio/wav": "wav"}


def sniff(head: bytes) -> str | None:
    """The audio type of a file from its first bytes, or None when it is none we take."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm" if b"webm" in head[:64] else None
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "audio/mp4"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    # An MPEG audio frame: 11 sync bits, a known version, a layer that is not "reserved" (00 is
    # AAC's ADTS, which is not MPEG-1/2 audio).
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and (head[1] >> 1) & 3 and (head[1] >> 3) & 3 != 1:
        return "audio/mpeg"
    return None


def audio_path(data_dir: Path, exam_id: int, attempt_id: int, n: int, content_type: str) -> Path:
    name = f"{n}-{secrets.token_hex(8)}.{EXTENSIONS[content_type]}"
    return (data_dir.joinpath(*AUDIO_DIR) / str(exam_id) / str(attempt_id) / name).resolve()


def write_file(path: Path, data: bytes | memoryview) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)  # a reader never sees half a file


def read_file(key: str) -> bytes:
    return Path(key).read_bytes()


def remove_files(keys: list[str]) -> None:
    for key in keys:
        Path(key).unlink(missing_ok=True)


async def save_answer(db: Database, attempt_id: int, n: int, content_type: str, size: int, key: str) -> bool:
    """Make the stored file answer `n`, if the attempt is still open at this instant (False when
    not: the caller removes the file). The answer and the row change in one transaction; the
    file this one replaces (if any) is removed after."""
    value = {"audio": True, "content_type": content_type, "size": size}
    async with db.transaction() as session:
        if not await store_if_open(session, attempt_id, n, value):
            return False
        row = await session.get(AudioAnswer, (attempt_id, n))
        previous = row.storage_key if row is not None else None
        row = row or AudioAnswer(attempt_id=attempt_id, position=n, content_type=content_type, size=size,
                                 storage_key=key)
        row.content_type, row.size, row.storage_key, row.uploaded_at = content_type, size, key, utcnow()
        session.add(row)
    if previous and previous != key:
        await asyncio.to_thread(remove_files, [previous])
    return True


async def find(db: Database, attempt_id: int, n: int) -> AudioAnswer | None:
    async with db.session() as session:
        return await session.get(AudioAnswer, (attempt_id, n))


async def of_attempt(db: Database, attempt_id: int) -> list[AudioAnswer]:
    async with db.session() as session:
        statement = select(AudioAnswer).where(col(AudioAnswer.attempt_id) == attempt_id)
        return list((await session.exec(statement.order_by(col(AudioAnswer.position)))).all())
