"""Proctoring snapshots (000 §10: the camera captures the taker's face every 5 minutes).

`POST /api/attempts/{id}/snapshots` takes the JPEG as the raw body (`Content-Type:
image/jpeg`, at most `faces.MAX_BYTES`), counts the faces on it here (OpenCV, in a worker
thread so the event loop keeps serving), stores it under the data directory and records the
count; none or more than one face is a violation the exam's owner sees beside the attempt.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.exams_api import id_param, may_edit
from gameserver.platform.http import PlatformError, database_of, live_of, require_user
from persistence.exams import attempts, faces, proctoring
from persistence.exams.attempts import Taker

SNAPSHOTS_DIR = "snapshots"


def _too_large() -> PlatformError:
    return PlatformError(413, "too_large", f"a snapshot is at most {faces.MAX_BYTES} bytes")


async def _jpeg_body(request: Request) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "image/jpeg":
        raise PlatformError(415, "unsupported_media_type", "send the snapshot as Content-Type: image/jpeg")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > faces.MAX_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > faces.MAX_BYTES:
            raise _too_large()
    return bytes(body)


def _store(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def post_snapshot(request: Request) -> Response:
    principal = await require_user(request)
    db = database_of(request)
    attempt, exam = await attempts.load(db, id_param(request, "attempt_id", "attempt"))
    if not Taker(principal.user_id).owns(attempt):
        raise attempts.not_found()
    if attempt.state != "in_progress":
        raise attempts.closed()
    if not exam.proctor_camera:
        raise PlatformError(409, "camera_not_required", "this exam does not take camera snapshots")
    data = await _jpeg_body(request)
    try:
        count = await asyncio.to_thread(faces.count_faces, data)
    except faces.NotAJpeg as error:
        problem = {"loc": ["body"], "msg": str(error), "type": "not_a_jpeg"}
        raise PlatformError(422, "invalid", str(error), [problem]) from error
    # The absolute path is stored: deleting the account (persistence.exams.account_hooks) removes
    # the pictures from the persistence layer, which knows no data directory.
    path = (live_of(request).settings.data_dir / SNAPSHOTS_DIR / str(exam.id) / str(attempt.id)
            / f"{secrets.token_hex(12)}.jpg").resolve()
    await asyncio.to_thread(_store, path, data)
    event = await proctoring.record_snapshot(db, attempt.id or 0, count, str(path))
    return ORJSONResponse({"id": event.id, "face_count": count, "violation": event.violation,
                           "at": proctoring.event_view(event)["at"]}, status_code=201)


async def get_snapshot(request: Request) -> Response:
    """The picture, for the exam's owner (or an admin) and the taker."""
    principal = await require_user(request)
    db = database_of(request)
    attempt, exam = await attempts.load(db, id_param(request, "attempt_id", "attempt"))
    if attempt.user_id != principal.user_id and not may_edit(principal, exam):
        raise attempts.not_found()
    event = await proctoring.snapshot(db, attempt.id or 0, id_param(request, "snapshot_id", "snapshot"))
    if event is None or event.file is None:
        raise PlatformError(404, "not_found", "no such snapshot")
    path = Path(event.file)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        raise PlatformError(404, "not_found", "the snapshot's file is gone") from error
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


def snapshot_routes() -> list[Route]:
    from gameserver.platform.attempts_api import attempts_endpoint

    return [
        Route("/api/attempts/{attempt_id:int}/snapshots", attempts_endpoint(post_snapshot), methods=["POST"]),
        Route("/api/attempts/{attempt_id:int}/snapshots/{snapshot_id:int}", attempts_endpoint(get_snapshot),
              methods=["GET"]),
    ]
