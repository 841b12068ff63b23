"""The exam bank over HTTP (PLATFORM.md "Exams"), and group games made from an exam.

The owner (or an admin) sees and edits an exam with its answers; anyone else sees it without
`correct`/`accepted`. `POST /api/exams/{id}/games` plays an exam's `select_one` questions that
are not `extra`, in order, as a live game whose results are stored with the exam's id.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse, busy_response
from gameserver.images import read_bounded
from gameserver.platform.http import (
    PlatformError,
    database_of,
    endpoint,
    forbidden,
    invalid,
    json_body,
    live_of,
    page_of,
    principal_of,
    require_user,
)
from gameserver.platform.links import link_host
from gameserver.quiz_import import MAX_FILE_BYTES, QuizFileError, import_quiz
from gameserver.quizzes import PLAYABLE_TYPE, Question, QuestionIn, Quiz
from persistence.accounts.tokens import Principal
from persistence.exams import bank
from persistence.exams.availability import availability_map, closed_reason
from persistence.exams.models import Exam
from persistence.exams.schema import ExamInvalid
from statemachine.errors import ServerError

log = logging.getLogger("livequiz.exams")
DEFAULT_GROUP_TIME_LIMIT_S = 20
MAX_QUERY = 100


def exam_not_found() -> PlatformError:
    return PlatformError(404, "not_found", "no such exam")


MAX_ID = 2**31 - 1  # ids are 32-bit integers in SQL: a larger one names nothing


def id_param(request: Request, name: str, what: str) -> int:
    value = int(request.path_params[name])
    if value > MAX_ID:
        raise PlatformError(404, "not_found", f"no such {what}")
    return value


async def exam_or_404(request: Request) -> Exam:
    exam = await bank.get(database_of(request), id_param(request, "exam_id", "exam"))
    if exam is None:
        raise exam_not_found()
    return exam


def may_edit(principal: Principal | None, exam: Exam) -> bool:
    return principal is not None and (principal.is_admin or exam.owner_id == principal.user_id)


def _invalid_exam(error: ExamInvalid) -> PlatformError:
    return invalid(str(error), error.details)


@endpoint
async def create_exam(request: Request) -> Response:
    principal = await require_user(request)
    data = await json_body(request)
    try:
        exam = await bank.create(database_of(request), principal.user_id, data)
    except ExamInvalid as error:
        raise _invalid_exam(error) from error
    return ORJSONResponse(bank.view(exam, with_answers=True), status_code=201)


@endpoint
async def import_exam(request: Request) -> Response:
    """`POST /api/exams/import?filename=NAME`: the bytes of a quiz file (.xlsx or .csv in Kahoot's
    layout, GIFT or Aiken, as the editor imports) become a new exam of the caller, inactive until
    its owner has looked it over; `{exam, skipped}`."""
    principal = await require_user(request)
    data = await read_bounded(request, MAX_FILE_BYTES)
    if data is None:
        raise PlatformError(413, "file_too_large", f"at most {MAX_FILE_BYTES} bytes")
    try:
        quiz, skipped = import_quiz(data, request.query_params.get("filename", "exam")[:255])
    except QuizFileError as error:
        raise PlatformError(413 if error.code == "file_too_large" else 422, error.code, error.message,
                            error.details()) from error
    try:
        exam = await bank.create(database_of(request), principal.user_id,
                                 {"title": quiz["title"], "active": False, "questions": quiz["questions"]})
    except ExamInvalid as error:
        raise _invalid_exam(error) from error
    return ORJSONResponse({"exam": bank.view(exam, with_answers=True), "skipped": skipped}, status_code=201)


@endpoint
async def get_exam(request: Request) -> Response:
    exam = await exam_or_404(request)
    principal = await principal_of(request)
    return ORJSONResponse(bank.view(exam, with_answers=may_edit(principal, exam)))


@endpoint
async def edit_exam(request: Request) -> Response:
    principal = await require_user(request)
    exam = await exam_or_404(request)
    if not may_edit(principal, exam):
        raise forbidden("only the exam's owner or an admin may edit it")
    data = await json_body(request)
    try:
        edited = await bank.update(database_of(request), exam.id or 0, data)
    except ExamInvalid as error:
        raise _invalid_exam(error) from error
    if edited is None:
        raise exam_not_found()
    return ORJSONResponse(bank.view(edited, with_answers=True))


@endpoint
async def delete_exam(request: Request) -> Response:
    principal = await require_user(request)
    exam = await exam_or_404(request)
    if not may_edit(principal, exam):
        raise forbidden("only the exam's owner or an admin may delete it")
    await bank.delete(database_of(request), exam.id or 0)
    return Response(status_code=204)


@endpoint
async def list_exams(request: Request) -> Response:
    """`?mine=1`: the caller's exams (active or not); else active exams, `?q=` searching titles."""
    page = page_of(request)
    query = request.query_params.get("q", "").strip()
    if len(query) > MAX_QUERY:
        raise invalid(f"q is at most {MAX_QUERY} characters",
                      [{"loc": ["query", "q"], "msg": "too long", "type": "too_long"}])
    owner_id = None
    if request.query_params.get("mine") in ("1", "true"):
        owner_id = (await require_user(request)).user_id
    exams = await bank.listing(database_of(request), owner_id=owner_id, query=query or None,
                               limit=page.limit, before_id=page.cursor)
    next_cursor = str(exams[-1].id) if len(exams) == page.limit else None
    return ORJSONResponse({"items": [bank.summary(exam) for exam in exams], "next_cursor": next_cursor})


@endpoint
async def exam_availability(request: Request) -> Response:
    return ORJSONResponse(availability_map(await exam_or_404(request)))


def group_quiz(exam: Exam, time_limit_s: int | None, max_questions: int) -> tuple[Quiz, int]:
    """The live quiz of an exam: its `select_one` questions that are not `extra`, in order, as
    far as the game accepts them (a longer text or a seventh option is skipped, and counted)."""
    questions = bank.questions(exam)
    played: list[Question] = []
    for question in questions:
        if question["type"] != PLAYABLE_TYPE or question.get("extra") or len(played) >= max_questions:
            continue
        limit = time_limit_s or question.get("time_limit") or DEFAULT_GROUP_TIME_LIMIT_S
        try:
            checked = QuestionIn.model_validate({**question, "time_limit": limit})
        except ValidationError:
            continue
        played.append(Question(checked.text, tuple(checked.options), checked.correct, checked.time_limit * 1000))
    return Quiz(exam.title, tuple(played)), len(questions) - len(played)


GROUP_REFUSALS = {
    "exam_inactive": "the exam is not active",
    "exam_paid": "a paid exam cannot be played as a group game",
    "exam_proctored": "a proctored exam cannot be played as a group game",
}


@endpoint
async def create_exam_game(request: Request) -> Response:
    await require_user(request)
    exam = await exam_or_404(request)
    data: dict[str, Any] = await json_body(request)
    time_limit = data.get("time_limit")
    if time_limit is not None and (not isinstance(time_limit, int) or isinstance(time_limit, bool)
                                   or not 5 <= time_limit <= 120):
        raise invalid("time_limit is 5-120 seconds",
                      [{"loc": ["body", "time_limit"], "msg": "5-120 seconds", "type": "out_of_range"}])
    reason = closed_reason(exam, "group")
    if reason is not None:
        raise PlatformError(409, reason, GROUP_REFUSALS[reason])
    live = live_of(request)
    quiz, skipped = group_quiz(exam, time_limit, live.settings.max_questions)
    if not quiz.questions:
        raise PlatformError(422, "no_playable_questions",
                            "the exam has no select_one question that is not extra and fits a live game")
    try:
        pin, host_token = await live.service.create_game(quiz)
    except ServerError:
        log.warning("no free PIN for a game from exam %s", exam.id)
        return busy_response("No free game PIN right now; try again shortly.")
    await link_host(live, pin, request, exam_id=exam.id)
    body = {"pin": pin, "host_token": host_token, "question_count": len(quiz.questions), "skipped": skipped,
            "exam_id": exam.id}
    return ORJSONResponse(body, status_code=201)


def exams_routes() -> list[Route]:
    from gameserver.platform.exams_openapi import describe

    describe()  # this area's part of /openapi.json
    return [
        Route("/api/exams", create_exam, methods=["POST"]),
        Route("/api/exams", list_exams, methods=["GET"]),
        Route("/api/exams/import", import_exam, methods=["POST"]),
        Route("/api/exams/{exam_id:int}", get_exam, methods=["GET"]),
        Route("/api/exams/{exam_id:int}", edit_exam, methods=["PATCH"]),
        Route("/api/exams/{exam_id:int}", delete_exam, methods=["DELETE"]),
        Route("/api/exams/{exam_id:int}/availability", exam_availability, methods=["GET"]),
        Route("/api/exams/{exam_id:int}/games", create_exam_game, methods=["POST"]),
    ]
