"""Speaking answers as audio files: what a file is (by its bytes), where it is kept, its row.

The type is read from the content's magic bytes, never from the client's header alone: WebM
(EBML with the "webm" doctype: Chrome's and Firefox's MediaRecorder), Ogg, MP4/M4A ("ftyp" box:
Safari's MediaRecorder), MPEG audio (ID3 tag or an MPEG frame sync) and WAV (RIFF/WAVE).

Recordings live in the process's blob store (persistence/blobs.py: files under the data
directory by default, or an S3-compatible bucket) at `ielts/audio/<exam>/<attempt>/<n>-<random>.<ext>`;
the row keeps that key (`storage_key`), so deleting an account, which is handed only a SQL
session, removes its recordings through the installed store. Re-uploading an answer replaces
the row and removes the old blob.
"""

from __future__ import annotations

import secrets

from sqlmodel import col, select

from persistence import blobs
from persistence.db import Database
from persistence.exams.attempts import _store_if_open as store_if_open
from persistence.ielts.models import AudioAnswer
from persistence.types import utcnow

MAX_AUDIO_BYTES = 20 * 1024 * 1024
AUDIO_FOLDER = "ielts/audio/"
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


def audio_key(exam_id: int, attempt_id: int, n: int, content_type: str) -> str:
    return f"{AUDIO_FOLDER}{exam_id}/{attempt_id}/{n}-{secrets.token_hex(8)}.{EXTENSIONS[content_type]}"


async def put(key: str, data: bytes, content_type: str) -> None:
    """Store a recording's bytes (BlobStoreError when the storage fails)."""
    await blobs.installed().put(key, data, content_type)


async def read(key: str) -> bytes | None:
    found = await blobs.installed().get(key)
    return found[0] if found is not None else None


async def remove(keys: list[str]) -> None:
    store = blobs.installed()
    for key in keys:
        await store.delete(key)


async def save_answer(db: Database, attempt_id: int, n: int, content_type: str, size: int, key: str) -> bool:
    """Make the stored blob answer `n`, if the attempt is still open at this instant (False when
    not: the caller removes the blob). The answer and the row change in one transaction; the
    blob this one replaces (if any) is removed after."""
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
        await remove([previous])
    return True


async def find(db: Database, attempt_id: int, n: int) -> AudioAnswer | None:
    async with db.session() as session:
        return await session.get(AudioAnswer, (attempt_id, n))


async def of_attempt(db: Database, attempt_id: int) -> list[AudioAnswer]:
    async with db.session() as session:
        statement = select(AudioAnswer).where(col(AudioAnswer.attempt_id) == attempt_id)
        return list((await session.exec(statement.order_by(col(AudioAnswer.position)))).all())
