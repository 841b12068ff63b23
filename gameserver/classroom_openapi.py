"""The classroom routes' part of `/openapi.json`: quiz files, question images, the report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gameserver.openapi import Operation, register_operation


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ImportedQuiz(_Open):
    quiz: dict[str, Any]
    skipped: int


class UploadedImage(_Open):
    id: str
    url: str


class GameImages(_Open):
    images: list[str | None]


_FILES, _IMAGES, _REPORT = ("quiz files",), ("images",), ("games",)
_BINARY_BODY: dict[str, Any] = {
    "requestBody": {"required": True,
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
}
_QUIZ_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
}
_IMAGE_ID = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_HOST_ONLY = {401: ["unauthorized"], 403: ["not_host"], 404: ["unknown_game"]}

OPERATIONS = [
    Operation("POST", "/api/quiz/import", "importQuiz", "Read a quiz file", responses={200: ImportedQuiz},
              tags=_FILES, errors={413: ["file_too_large"], 422: ["unsupported_format", "no_questions", "bad_row"]},
              extra=_BINARY_BODY | {"parameters": [{"name": "filename", "in": "query", "required": False,
                                                     "schema": {"type": "string", "maxLength": 255}}]},
              description="The file's bytes: .xlsx or .csv in Kahoot's quiz template layout (question, four "
              "answers, time limit, correct answer number), GIFT or Aiken text. Answers the quiz as `POST "
              "/api/games` takes it; nothing is stored. `details` name the line of a bad row."),
    Operation("POST", "/api/quiz/export", "exportQuiz", "A quiz as a file", responses={200: None}, tags=_FILES,
              files={200: "application/octet-stream"},
              errors={400: ["unsupported_format"], 422: ["invalid_quiz"]},
              extra=_QUIZ_BODY | {"parameters": [{"name": "format", "in": "query", "required": True,
                                                   "schema": {"enum": ["xlsx", "csv", "gift", "aiken"]}}]},
              description="Takes a quiz as `POST /api/games` does; answers the file (formulas never written)."),
    Operation("POST", "/api/images", "uploadImage", "Upload a question image", responses={201: UploadedImage},
              tags=_IMAGES, errors={413: ["image_too_large"], 415: ["image_type"], 429: ["rate_limited"],
                                    507: ["image_store_full"]},
              extra=_BINARY_BODY,
              description="PNG, JPEG, GIF or WebP, judged by the bytes; at most 512 KB. Stored once per content "
              "(the id is its SHA-256) for the game TTL; a bounded number at once; an address uploads a bounded "
              "number an hour."),
    Operation("GET", "/api/images/{image_id}", "getImage", "A question image", responses={200: None, 304: None},
              tags=_IMAGES, errors={404: ["not_found"]}, parameters={"image_id": _IMAGE_ID},
              files={200: "image/*"},
              description="Cached for a year (the URL names the content); `If-None-Match` answers 304."),
    Operation("PUT", "/api/games/{pin}/images", "setGameImages", "Which question shows which image",
              responses={200: GameImages}, request=GameImages, bearer=True, tags=_IMAGES,
              errors={**_HOST_ONLY, 400: ["bad_message", "unknown_image"]},
              description="The host token; an image id or null per question, images uploaded first."),
    Operation("GET", "/api/games/{pin}/images", "getGameImages", "The images of a game's questions",
              responses={200: GameImages}, tags=_IMAGES, errors={404: ["unknown_game"]}),
    Operation("GET", "/api/games/{pin}/report.xlsx", "gameReport", "The game's report as a spreadsheet",
              responses={200: None}, bearer=True, tags=_REPORT, errors={**_HOST_ONLY, 409: ["not_finished"]},
              files={200: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
              description="Once finished, with the host token: a summary (hardest question first), the results "
              "and a sheet per question (who answered what, how fast)."),
]


def describe() -> None:
    for operation in OPERATIONS:
        register_operation(operation)
