"""Proctoring events of an attempt (000 §10, PLATFORM.md `POST /api/attempts/{id}/events`).

- `fullscreen_exit` on an exam with fullscreen required ends the attempt at once with score 0;
- `snapshot` from the client is recorded with the face count it reports, as a claim only: the
  violations the owner sees come from snapshots the server counted itself (`record_snapshot`);
- none or more than one face on a counted snapshot is a violation, as is `camera_denied` on an
  exam that requires the camera.

A snapshot's picture lives in the blob store (persistence.blobs) under
`snapshots/{exam}/{attempt}/{random}.jpg`, the key kept in `ProctorEvent.file`: with the local
store that is the file `data_dir/snapshots/…` where pictures have always been. Rows written
before the blob store hold an absolute path instead; those files are read and deleted in place.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from persistence import blobs
from persistence.blobs import BlobStore
from persistence.db import Database
from persistence.exams import attempts
from persistence.exams.attempts import AttemptError, Taker
from persistence.exams.models import Exam, ProctorEvent
from persistence.types import iso

EVENT_TYPES = ("fullscreen_exit", "fullscreen_enter", "snapshot", "camera_denied", "tab_hidden", "tab_visible")
MAX_FACE_COUNT = 100
SNAPSHOTS_FOLDER = "snapshots"
SNAPSHOT_TYPE = "image/jpeg"


def _check_event(kind: object, face_count: object) -> tuple[str, int | None]:
    if kind not in EVENT_TYPES:
        raise AttemptError(422, "invalid", f"type must be one of {', '.join(EVENT_TYPES)}",
                           [{"loc": ["body", "type"], "msg": "unknown event type", "type": "enum"}])
    if face_count is not None and (not isinstance(face_count, int) or isinstance(face_count, bool)
                                   or not 0 <= face_count <= MAX_FACE_COUNT):
        raise AttemptError(422, "invalid", f"face_count must be 0-{MAX_FACE_COUNT}",
                           [{"loc": ["body", "face_count"], "msg": "not a count", "type": "out_of_range"}])
    return str(kind), face_count


async def record_event(db: Database, attempt_id: int, taker: Taker, kind: object, face_count: object) -> dict[str, Any]:
    """Record an event; returns `{ended, state}` (ended: this event ended the attempt)."""
    event_type, count = _check_event(kind, face_count)
    attempts_ended = False
    async with db.transaction() as session:
        attempt = await attempts.lock_attempt(session, attempt_id)
        if attempt is None or not taker.owns(attempt):
            raise attempts.not_found()
        exam = await session.get(Exam, attempt.exam_id)
        assert exam is not None
        if attempt.state != "in_progress" or attempts.overdue(attempt):
            raise attempts.closed()
        violation = (event_type == "fullscreen_exit" and exam.proctor_fullscreen) or (
            event_type == "camera_denied" and exam.proctor_camera)
        session.add(ProctorEvent(attempt_id=attempt_id, type=event_type, face_count=count, source="client",
                                 violation=violation))
        if event_type == "fullscreen_exit" and exam.proctor_fullscreen:
            await attempts.end_with_zero(session, attempt, "fullscreen_exit")
            attempts_ended = True
    return {"ended": attempts_ended, "state": "finished" if attempts_ended else "in_progress"}


async def record_snapshot(db: Database, attempt_id: int, face_count: int, file: str) -> ProctorEvent:
    """A snapshot the server counted faces on: one face is fine, none or several a violation."""
    event = ProctorEvent(attempt_id=attempt_id, type="snapshot", face_count=face_count, source="server",
                         violation=face_count != 1, file=file)
    async with db.transaction() as session:
        attempt = await attempts.lock_attempt(session, attempt_id)
        if attempt is None or attempt.state != "in_progress":
            raise attempts.closed()
        session.add(event)
    return event


async def events_of(db: Database, attempt_id: int) -> list[ProctorEvent]:
    async with db.session() as session:
        return list((await session.exec(
            select(ProctorEvent).where(col(ProctorEvent.attempt_id) == attempt_id).order_by(col(ProctorEvent.id))
        )).all())


async def violations_of(db: Database, attempt_ids: list[int]) -> dict[int, int]:
    """How many violations each attempt has (absent: none), in one query for a page of them."""
    if not attempt_ids:
        return {}
    async with db.session() as session:
        rows = (await session.exec(
            select(ProctorEvent.attempt_id, func.count()).where(col(ProctorEvent.attempt_id).in_(attempt_ids),
                                                                col(ProctorEvent.violation).is_(True))
            .group_by(col(ProctorEvent.attempt_id))
        )).all()
    return {attempt_id: count for attempt_id, count in rows}


async def snapshot(db: Database, attempt_id: int, snapshot_id: int) -> ProctorEvent | None:
    async with db.session() as session:
        event = await session.get(ProctorEvent, snapshot_id)
    if event is None or event.attempt_id != attempt_id or event.file is None:
        return None
    return event


def event_view(event: ProctorEvent) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "at": iso(event.at), "face_count": event.face_count,
            "source": event.source, "violation": event.violation, "has_image": event.file is not None}


def snapshot_key(exam_id: int, attempt_id: int) -> str:
    """A new picture's key; the random part keeps one attempt's pictures apart and unguessable."""
    return f"{SNAPSHOTS_FOLDER}/{exam_id}/{attempt_id}/{secrets.token_hex(12)}.jpg"


def _legacy_path(file: str) -> Path | None:
    return Path(file) if file.startswith("/") else None  # a key never starts with "/"


async def read_picture(file: str, store: BlobStore | None = None) -> bytes | None:
    """The picture a snapshot event names, or None if it is gone. `store`: the process's by default."""
    legacy = _legacy_path(file)
    if legacy is not None:
        try:
            return await asyncio.to_thread(legacy.read_bytes)
        except FileNotFoundError:
            return None
    found = await (store or blobs.installed()).get(file)
    return None if found is None else found[0]


async def remove_pictures(files: list[str], store: BlobStore | None = None) -> None:
    for file in files:
        legacy = _legacy_path(file)
        if legacy is not None:
            await asyncio.to_thread(legacy.unlink, missing_ok=True)
        else:
            await (store or blobs.installed()).delete(file)
