"""IELTS and CEFR over HTTP (PLATFORM.md "IELTS and CEFR"): speaking recordings, graders,
the grading queue and grades. The result itself rides on the attempts' own answers
(`GET /api/attempts/{id}`, the finish), extended by `persistence.ielts.outcome`.

Who sees what (000 §12): the candidate their own attempt and recordings; the exam's owner and
the graders the owner names every attempt at it, essays and audio included; admins all;
anyone else is refused (`403 forbidden` for recordings and grades, `404` for the attempt
itself, as the attempts API answers). Graders are managed by the owner (or an admin) only.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.attempts_api import attempt_id_of, attempts_endpoint, result_of
from gameserver.platform.audio_upload import FRAMING_BYTES, bounded_body, form_file, too_large
from gameserver.platform.exams_api import exam_or_404, may_edit
from gameserver.platform.http import (
    PlatformError,
    database_of,
    forbidden,
    invalid,
    json_body,
    page_of,
    require_user,
)
from persistence import blobs
from persistence.accounts.tokens import Principal
from persistence.exams import attempts, bank
from persistence.exams.attempts import Taker
from persistence.exams.models import Attempt, Exam
from persistence.ielts import audio, bands, grading, outcome
from persistence.ielts.grading import GradeIn
from persistence.ielts.result import GRADED_KINDS, IELTS_KINDS, section_of_positions, skills_present
from persistence.types import iso

log = logging.getLogger("livequiz.ielts")


def _storage_unavailable(error: blobs.BlobStoreError) -> PlatformError:
    log.error("recording storage failed: %s", error)
    return PlatformError(503, "storage_unavailable", "the recording could not be stored or read; try again later")


async def may_grade(request: Request, principal: Principal, exam: Exam) -> bool:
    return may_edit(principal, exam) or await grading.is_grader(database_of(request), exam.id or 0,
                                                                 principal.user_id)


async def may_see(request: Request, principal: Principal, attempt: Attempt, exam: Exam) -> bool:
    return attempt.user_id == principal.user_id or await may_grade(request, principal, exam)


def _speaking_n(request: Request, attempt: Attempt, exam: Exam) -> int:
    raw = request.query_params.get("n", "")
    n = int(raw) if raw.isdigit() and len(raw) < 7 else -1
    if exam.kind not in GRADED_KINDS or exam.speaking_mode != "async":
        raise invalid("this exam takes no recorded speaking answers",
                      [{"loc": ["query", "n"], "msg": "no recorded speaking", "type": "not_speaking"}])
    if n not in attempts.positions(attempt) or section_of_positions(bank.content(exam)).get(n) != "speaking":
        raise invalid("n is not a speaking question of this attempt",
                      [{"loc": ["query", "n"], "msg": "not a speaking question", "type": "not_speaking"}])
    return n


@attempts_endpoint
async def upload_audio(request: Request) -> Response:
    """The taker's recording of speaking question `n` (multipart field `file`, or a raw
    audio body), checked by its bytes; it becomes that question's answer."""
    principal = await require_user(request)
    db = database_of(request)
    attempt, exam = await attempts.load(db, attempt_id_of(request))
    if not Taker(principal.user_id).owns(attempt):
        raise attempts.not_found()
    if attempt.state != "in_progress":
        raise attempts.closed()
    n = _speaking_n(request, attempt, exam)
    body = await bounded_body(request, audio.MAX_AUDIO_BYTES + FRAMING_BYTES)
    upload = form_file(body, request.headers.get("content-type", ""))
    if upload is None or not len(upload.data):
        raise invalid("send the recording as the form field 'file'",
                      [{"loc": ["body", "file"], "msg": "no file", "type": "missing"}])
    if len(upload.data) > audio.MAX_AUDIO_BYTES:
        raise too_large(audio.MAX_AUDIO_BYTES)
    content_type = audio.sniff(bytes(upload.data[:64]))
    if content_type is None:
        raise PlatformError(415, "unsupported_media_type",
                            "send a WebM, Ogg, MP4/M4A, MP3 or WAV recording (checked by its content)")
    size = len(upload.data)
    key = audio.audio_key(exam.id or 0, attempt.id or 0, n, content_type)
    try:
        await audio.put(key, bytes(upload.data), content_type)
        del body, upload  # the bytes are stored: do not hold two copies while the row is written
        stored = await audio.save_answer(db, attempt.id or 0, n, content_type, size, key)
        if not stored:  # the attempt closed meanwhile: no row names the blob, so drop it
            await audio.remove([key])
    except blobs.BlobStoreError as error:
        raise _storage_unavailable(error) from error
    if not stored:
        raise attempts.closed()
    return ORJSONResponse({"n": n, "content_type": content_type, "size": size}, status_code=201)


@attempts_endpoint
async def get_audio(request: Request) -> Response:
    principal = await require_user(request)
    attempt, exam = await attempts.load(database_of(request), attempt_id_of(request))
    if not await may_see(request, principal, attempt, exam):
        raise forbidden("only the candidate, the exam's owner and its graders hear a recording")
    found = await audio.find(database_of(request), attempt.id or 0, int(request.path_params["n"]))
    if found is None:
        raise PlatformError(404, "not_found", "no recording for that question")
    try:
        data = await audio.read(found.storage_key)
    except blobs.BlobStoreError as error:
        raise _storage_unavailable(error) from error
    if data is None:
        raise PlatformError(404, "not_found", "the recording's file is gone")
    return _ranged(data, found.content_type, request.headers.get("range"))


def _ranged(data: bytes, content_type: str, asked: str | None) -> Response:
    """The recording, or one byte range of it (`Range: bytes=a-b`, `a-`, `-n`): a player seeks
    in a recording by asking for its later bytes."""
    headers = {"Cache-Control": "private, no-store", "Accept-Ranges": "bytes"}
    match = re.fullmatch(r"bytes=(\d{0,12})-(\d{0,12})", asked.strip()) if asked else None
    if match is None or not (match[1] or match[2]):
        return Response(data, media_type=content_type, headers=headers)
    size = len(data)
    if match[1]:
        start, end = int(match[1]), min(int(match[2]), size - 1) if match[2] else size - 1
    else:
        start, end = max(0, size - int(match[2])), size - 1
    if start >= size or start > end:
        raise PlatformError(416, "range_not_satisfiable", f"the recording has {size} bytes",
                            headers={"Content-Range": f"bytes */{size}"})
    return Response(data[start:end + 1], status_code=206, media_type=content_type,
                    headers=headers | {"Content-Range": f"bytes {start}-{end}/{size}"})


async def _managed_exam(request: Request) -> Exam:
    principal = await require_user(request)
    exam = await exam_or_404(request)
    if not may_edit(principal, exam):
        raise forbidden("only the exam's owner names its graders")
    return exam


@attempts_endpoint
async def add_grader(request: Request) -> Response:
    exam = await _managed_exam(request)
    data = await json_body(request)
    if exam.kind not in GRADED_KINDS:
        raise invalid("only IELTS and CEFR exams have graders",
                      [{"loc": ["path", "exam_id"], "msg": "not graded by people", "type": "kind"}])
    user_id, email = data.get("user_id"), data.get("email")
    db = database_of(request)
    if isinstance(user_id, int) and not isinstance(user_id, bool) and 0 < user_id < 2**31:
        user = await grading.find_user(db, user_id=user_id)
    elif isinstance(email, str) and 0 < len(email) <= 254:
        user = await grading.find_user(db, email=email)
    else:
        raise invalid("send {\"email\"} or {\"user_id\"}",
                      [{"loc": ["body"], "msg": "email or user_id", "type": "missing"}])
    if user is None or user.id is None:
        raise PlatformError(404, "not_found", "no such user")
    await grading.add_grader(db, exam.id or 0, user.id)
    return ORJSONResponse({"user_id": user.id, "name": grading.display_name(user)}, status_code=201)


@attempts_endpoint
async def list_graders(request: Request) -> Response:
    exam = await _managed_exam(request)
    return ORJSONResponse({"items": await grading.graders_of(database_of(request), exam.id or 0)})


@attempts_endpoint
async def remove_grader(request: Request) -> Response:
    exam = await _managed_exam(request)
    if not await grading.remove_grader(database_of(request), exam.id or 0, int(request.path_params["user_id"])):
        raise PlatformError(404, "not_found", "that user does not grade this exam")
    return Response(status_code=204)


def _grade_view(grade: Any) -> dict[str, Any]:
    return {"band": grade.band, "percent": grade.percent, "comment": grade.comment,
            "graded_at": iso(grade.graded_at)}


@attempts_endpoint
async def grading_queue(request: Request) -> Response:
    principal = await require_user(request)
    page = page_of(request)
    entries, cursor = await grading.queue(database_of(request), principal.user_id, limit=page.limit,
                                          after_id=page.cursor)
    items = [{"attempt_id": e.attempt.id, "exam_id": e.exam.id, "exam_title": e.exam.title, "kind": e.exam.kind,
              "speaking_mode": e.exam.speaking_mode, "candidate": e.candidate,
              "finished_at": iso(e.attempt.finished_at), "awaiting": e.awaiting,
              "graded": {section: _grade_view(grade) for section, grade in e.graded.items()}} for e in entries]
    return ORJSONResponse({"items": items, "next_cursor": str(cursor) if cursor is not None else None})


def _grade_in(data: dict[str, Any], exam: Exam) -> GradeIn:
    section, comment = data.get("section"), data.get("comment", "")
    if section not in ("writing", "speaking") or section not in skills_present(bank.content(exam)):
        raise invalid("section is writing or speaking, one the exam has",
                      [{"loc": ["body", "section"], "msg": "writing or speaking", "type": "enum"}])
    if not isinstance(comment, str) or len(comment) > grading.MAX_COMMENT:
        raise invalid(f"comment is text of at most {grading.MAX_COMMENT} characters",
                      [{"loc": ["body", "comment"], "msg": "too long or not text", "type": "string"}])
    if exam.kind in IELTS_KINDS:
        band = data.get("band")
        if not bands.is_band(band):
            raise invalid("band is 0 to 9 in steps of 0.5",
                          [{"loc": ["body", "band"], "msg": "0..9 step 0.5", "type": "band"}])
        return GradeIn(section, float(band), None, comment.strip())  # type: ignore[arg-type]
    percent = data.get("percent")
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise invalid("percent is 0 to 100", [{"loc": ["body", "percent"], "msg": "0..100", "type": "percent"}])
    return GradeIn(section, None, round(float(percent), 2), comment.strip())


@attempts_endpoint
async def post_grade(request: Request) -> Response:
    principal = await require_user(request)
    data = await json_body(request)
    db = database_of(request)
    attempt, exam = await attempts.load(db, attempt_id_of(request))
    if not await may_grade(request, principal, exam):
        raise forbidden("only the exam's owner and its graders grade")
    if attempt.user_id == principal.user_id:
        raise grading.own_attempt()
    if exam.kind not in GRADED_KINDS:
        raise invalid("this exam is not graded by people",
                      [{"loc": ["path", "attempt_id"], "msg": "not an IELTS or CEFR exam", "type": "kind"}])
    await grading.set_grade(db, attempt.id or 0, _grade_in(data, exam), principal.user_id)
    attempt, exam = await attempts.load(db, attempt.id or 0)
    return ORJSONResponse((result_of(attempt) or {}) | await outcome.result_fields(db, attempt, exam))


def ielts_routes() -> list[Route]:
    from gameserver.platform.ielts_openapi import describe
    from persistence.ielts import account_hooks

    describe()
    account_hooks.install()  # recordings deleted with the account; grades in its export
    return [
        Route("/api/attempts/{attempt_id:int}/audio", upload_audio, methods=["POST"]),
        Route("/api/attempts/{attempt_id:int}/audio/{n:int}", get_audio, methods=["GET"]),
        Route("/api/attempts/{attempt_id:int}/grades", post_grade, methods=["POST"]),
        Route("/api/exams/{exam_id:int}/graders", add_grader, methods=["POST"]),
        Route("/api/exams/{exam_id:int}/graders", list_graders, methods=["GET"]),
        Route("/api/exams/{exam_id:int}/graders/{user_id:int}", remove_grader, methods=["DELETE"]),
        Route("/api/grading", grading_queue, methods=["GET"]),
    ]
