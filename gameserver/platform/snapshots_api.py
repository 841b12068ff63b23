"""Proctoring snapshots (000 §10: the camera captures the taker's face every 5 minutes).

`POST /api/attempts/{id}/snapshots` takes the JPEG as the raw body (`Content-Type:
image/jpeg`, at most `faces.MAX_BYTES`), counts the faces on it here (OpenCV, in a worker
thread so the event loop keeps serving), stores it in the process's blob store (files under the
data directory, or an S3-compatible bucket: `blob_store_url`) and records the count; none or
more than one face is a violation the exam's owner sees beside the attempt. A store that fails
answers 503 `storage_unavailable` (the client sends the picture again later), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.exams_api import id_param, may_edit
from gameserver.platform.http import PlatformError, database_of, require_user
from persistence import blobs
from persistence.exams import attempts, faces, proctoring
from persistence.exams.attempts import Taker

log = logging.getLogger("livequiz.snapshots")


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


def _storage_unavailable(error: blobs.BlobStoreError) -> PlatformError:
    log.error("snapshot storage failed: %s", error)
    return PlatformError(503, "storage_unavailable", "the picture could not be stored or read; try again later")


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
    key = proctoring.snapshot_key(exam.id or 0, attempt.id or 0)
    try:
        store = blobs.installed()
        await store.put(key, data, proctoring.SNAPSHOT_TYPE)
    except blobs.BlobStoreError as error:
        raise _storage_unavailable(error) from error
    try:
        event = await proctoring.record_snapshot(db, attempt.id or 0, count, key)
    except Exception:
        # The attempt closed while the picture was stored: no row will name it, so drop it now.
        with contextlib.suppress(blobs.BlobStoreError):
            await store.delete(key)
        raise
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
    try:
        data = await proctoring.read_picture(event.file)
    except (blobs.BlobStoreError, OSError) as error:
        raise _storage_unavailable(blobs.BlobStoreError(str(error))) from error
    if data is None:
        raise PlatformError(404, "not_found", "the snapshot's file is gone")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


def snapshot_routes() -> list[Route]:
    from gameserver.platform.attempts_api import attempts_endpoint

    return [
        Route("/api/attempts/{attempt_id:int}/snapshots", attempts_endpoint(post_snapshot), methods=["POST"]),
        Route("/api/attempts/{attempt_id:int}/snapshots/{snapshot_id:int}", attempts_endpoint(get_snapshot),
              methods=["GET"]),
    ]
