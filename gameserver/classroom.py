"""Routes of the classroom features, mounted by `create_app` with one line.

Quiz files: `POST /api/quiz/import?filename=NAME` takes the file's bytes (at most
`quiz_import.MAX_FILE_BYTES`) and answers `{"quiz", "skipped"}`; `POST /api/quiz/export?format=`
(xlsx, csv, gift, aiken) takes a quiz as `POST /api/games` does and answers the file. Both are
stateless. Images and the report have their own modules.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gameserver.classroom_openapi import describe
from gameserver.http_api import ORJSONResponse, client_error_response, error_response
from gameserver.images import image_routes, read_bounded
from gameserver.quiz_export import EXPORTERS, MEDIA_TYPES
from gameserver.quiz_import import MAX_FILE_BYTES, QuizFileError, import_quiz
from gameserver.quizzes import parse_quiz
from gameserver.reports import report_routes
from statemachine.errors import InvalidQuiz

MAX_EXPORT_BODY = 512 * 1024


async def import_file(request: Request) -> Response:
    data = await read_bounded(request, MAX_FILE_BYTES)
    if data is None:
        return error_response(413, "file_too_large", f"at most {MAX_FILE_BYTES} bytes")
    try:
        quiz, skipped = import_quiz(data, request.query_params.get("filename", "quiz")[:255])
    except QuizFileError as error:
        status = 413 if error.code == "file_too_large" else 422
        return error_response(status, error.code, error.message, error.details())
    return ORJSONResponse({"quiz": quiz, "skipped": skipped})


async def export_file(request: Request) -> Response:
    kind = request.query_params.get("format", "")
    exporter = EXPORTERS.get(kind)
    if exporter is None:
        return error_response(400, "unsupported_format", f"format must be one of {', '.join(EXPORTERS)}")
    raw = await read_bounded(request, MAX_EXPORT_BODY)
    try:
        if raw is None:
            raise InvalidQuiz("request body too large")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidQuiz("body is not valid JSON") from exc
        quiz, _ = parse_quiz(data, max_questions=request.app.state.live.settings.max_questions)
    except InvalidQuiz as error:
        return client_error_response(error)
    extension = "txt" if kind in ("gift", "aiken") else kind
    return Response(
        exporter(quiz), media_type=MEDIA_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="quiz.{extension}"', "Cache-Control": "no-store"},
    )


def classroom_routes() -> list[BaseRoute]:
    describe()  # this area's part of /openapi.json
    return [
        Route("/api/quiz/import", import_file, methods=["POST"]),
        Route("/api/quiz/export", export_file, methods=["POST"]),
        *image_routes(),
        *report_routes(),
    ]
