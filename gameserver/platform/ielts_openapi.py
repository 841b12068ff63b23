"""OpenAPI descriptions of the IELTS/CEFR endpoints (PLATFORM.md "IELTS and CEFR"): speaking
recordings, graders, the grading queue and grades. The handlers build plain dicts; these
models only describe them. The result fields an IELTS or CEFR attempt adds to
`GET /api/attempts/{id}` and the finish are described here as `GradedResult`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gameserver.openapi import Operation, register_operation
from gameserver.platform.exams_openapi import _error

_ID = {"type": "integer", "minimum": 1}
_N = {"type": "integer", "minimum": 0, "description": "the speaking question's 0-based position in the exam"}
_SIGNED_IN = {401: ["unauthorized"], 429: ["rate_limited"]}
_WRITE = {**_SIGNED_IN, 403: ["csrf"], 413: ["too_large"]}
_AUTH: dict[str, Any] = {"security": [{"apiToken": []}]}
_TAGS = ("ielts",)
_SKILLS = {"type": "object", "description": "listening, reading, writing, speaking"}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AudioStored(_Open):
    n: int
    content_type: Literal["audio/webm", "audio/ogg", "audio/mp4", "audio/mpeg", "audio/wav"]
    size: int = Field(ge=1, le=20 * 1024 * 1024)


class GraderIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "grader@example.com"}, {"user_id": 7}]})

    email: str | None = None
    user_id: int | None = None


class GraderOut(_Open):
    user_id: int
    name: str


class GraderList(_Open):
    items: list[GraderOut]


class QueueItem(_Open):
    attempt_id: int
    exam_id: int
    exam_title: str
    kind: Literal["ielts_academic", "ielts_general", "cefr"]
    candidate: str = Field(description="display name only")
    finished_at: str | None
    awaiting: list[Literal["writing", "speaking"]]
    graded: dict[str, dict[str, Any]] = Field(description="per section: {band, percent, comment, graded_at}")


class QueuePage(_Open):
    items: list[QueueItem]
    next_cursor: str | None


class GradeBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"section": "writing", "band": 6.5, "comment": "Clear position; vary the linking words."},
        {"section": "speaking", "percent": 72, "comment": "CEFR exams take a percent."}]})

    section: Literal["writing", "speaking"]
    band: float | None = Field(None, ge=0, le=9, multiple_of=0.5, description="IELTS exams")
    percent: float | None = Field(None, ge=0, le=100, description="CEFR exams")
    comment: str = Field("", max_length=5000)


class GradedResult(_Open):
    """The standard score plus, for IELTS: `bands` (null while ungraded), `raw` (correct out of
    40), `overall` and `cefr` (null until Writing and Speaking are graded), `comments`; for
    CEFR: `skills` (percent per skill; null for a skill the exam does not test) and `cefr`, the
    level of the mean of the skills the exam tests (null until its Writing and Speaking, those
    it has, are graded)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "score": 30, "max": 42, "percent": 71.43, "passed": True, "state": "finished", "ended_by": "finish",
        "bands": {"listening": 7.0, "reading": 6.5, "writing": 6.0, "speaking": None},
        "raw": {"listening": 30, "reading": 27}, "overall": None, "cefr": None,
        "comments": {"writing": "Good structure.", "speaking": None}}]})

    score: int
    max: int
    percent: float
    passed: bool
    bands: dict[str, float | None] | None = None
    raw: dict[str, int | None] | None = None
    skills: dict[str, float | None] | None = None
    overall: float | None = None
    cefr: Literal["A1", "A2", "B1", "B2", "C1", "C2"] | None = None
    comments: dict[str, str | None] | None = None


_UPLOAD = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}}}},
    "parameters": [{"name": "attempt_id", "in": "path", "required": True, "schema": _ID},
                   {"name": "n", "in": "query", "required": True, "schema": _N}]}

OPERATIONS = [
    Operation("POST", "/api/attempts/{attempt_id}/audio", "uploadSpeaking", "Upload a speaking recording",
              responses={201: AudioStored}, tags=_TAGS, parameters={"attempt_id": _ID}, extra=_AUTH | _UPLOAD,
              errors={**_WRITE, 404: ["not_found"], 409: ["attempt_closed"], 415: ["unsupported_media_type"],
                      422: ["invalid"], 503: ["storage_unavailable"]},
              description="By the attempt's taker while it is in progress, for a speaking question `n` of an "
              "exam whose `speaking_mode` is `async`. At most 20 MB; the type is read from the content (WebM, "
              "Ogg, MP4/M4A, MP3, WAV); a raw body with `Content-Type: audio/...` is taken too. The answer "
              "of `n` becomes `{audio: true, content_type, size}`; a new "
              "upload replaces the old."),
    Operation("GET", "/api/attempts/{attempt_id}/audio/{n}", "getSpeaking", "A speaking recording",
              responses={200: None}, tags=_TAGS, parameters={"attempt_id": _ID, "n": _N},
              extra=_AUTH | {"responses": {
                  "200": {"description": "the audio", "content": {"audio/*": {"schema": {
                      "type": "string", "format": "binary"}}}},
                  "206": {"description": "the bytes a `Range: bytes=a-b` asked for", "content": {"audio/*": {
                      "schema": {"type": "string", "format": "binary"}}}},
                  **{str(status): _error(status, codes) for status, codes in
                     {**_SIGNED_IN, 403: ["forbidden"], 404: ["not_found"], 416: ["range_not_satisfiable"],
                      503: ["storage_unavailable"]}.items()}}},
              description="For the candidate, the exam's owner, its graders and admins; anyone else `403`. "
              "One `Range` is honoured (a player seeks)."),
    Operation("POST", "/api/exams/{exam_id}/graders", "addGrader", "Name a grader (owner or admin)",
              responses={201: GraderOut}, request=GraderIn, tags=_TAGS, parameters={"exam_id": _ID}, extra=_AUTH,
              errors={**_WRITE, 403: ["forbidden", "csrf"], 404: ["not_found"], 422: ["invalid"]},
              description="`{email}` or `{user_id}` of an existing account; IELTS and CEFR exams only."),
    Operation("GET", "/api/exams/{exam_id}/graders", "listGraders", "The exam's graders (owner or admin)",
              responses={200: GraderList}, tags=_TAGS, parameters={"exam_id": _ID}, extra=_AUTH,
              errors={**_SIGNED_IN, 403: ["forbidden"], 404: ["not_found"]}),
    Operation("DELETE", "/api/exams/{exam_id}/graders/{user_id}", "removeGrader", "Remove a grader",
              responses={204: None}, tags=_TAGS, parameters={"exam_id": _ID, "user_id": _ID}, extra=_AUTH,
              errors={**_SIGNED_IN, 403: ["forbidden", "csrf"], 404: ["not_found"]}),
    Operation("GET", "/api/grading", "gradingQueue", "Attempts awaiting a human grade",
              responses={200: QueuePage}, tags=_TAGS, errors={**_SIGNED_IN, 422: ["invalid"]},
              extra=_AUTH | {"parameters": [
                  {"name": "limit", "in": "query", "required": False,
                   "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                  {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}}]},
              description="Finished attempts of the exams the caller owns or grades with Writing or Speaking "
              "still ungraded, oldest first; never the caller's own attempts."),
    Operation("POST", "/api/attempts/{attempt_id}/grades", "gradeAttempt", "Grade Writing or Speaking",
              responses={200: GradedResult}, request=GradeBody, tags=_TAGS, parameters={"attempt_id": _ID},
              extra=_AUTH,
              errors={**_WRITE, 403: ["forbidden", "own_attempt", "csrf"], 404: ["not_found"],
                      409: ["attempt_not_finished"], 422: ["invalid"]},
              description="The exam's owner, its graders, admins; nobody grades their own attempt "
              "(`403 own_attempt`). IELTS: `band` 0–9 in steps of 0.5; CEFR: "
              "`percent` 0–100. Grading again replaces the grade. Answers the attempt's result."),
]


def describe() -> None:
    for operation in OPERATIONS:
        register_operation(operation)
