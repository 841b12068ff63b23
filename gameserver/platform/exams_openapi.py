"""OpenAPI descriptions of the exams and solo-attempts endpoints (PLATFORM.md "Exams", "Solo
attempts"), with examples for the mobile app: it signs in (`POST /api/auth/login`), then sends
`Authorization: Bearer <token>` and `platform: "mobile"`. The handlers build plain dicts; these
models only describe them (the schemathesis test checks that the two agree)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gameserver.openapi import Operation, register_operation

_EXAMPLE_EXAM: dict[str, Any] = {
    "title": "Capitals", "time_limit_s": 600, "pass_percent": 70, "show_in_mobile": True,
    "questions": [
        {"type": "select_one", "text": "Capital of Uzbekistan?", "options": ["Samarkand", "Tashkent"], "correct": 1},
        {"type": "select_many", "text": "Rivers?", "options": ["Amu Darya", "Aral", "Syr Darya"], "correct": [0, 2]},
        {"type": "text", "text": "Capital of France?", "accepted": ["Paris"]},
        {"type": "free", "text": "Describe your town.", "extra": True},
    ],
}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Proctoring(_Open):
    fullscreen: bool = Field(description="leaving fullscreen ends the attempt with score 0")
    camera: bool = Field(description="JPEG snapshots, faces counted by the server")


class ExamQuestion(_Open):
    """`correct` (select_one: an index; select_many: indexes) and `accepted` (text) are shown only
    to the exam's owner and admins."""

    type: Literal["select_one", "select_many", "text", "free"]
    text: str
    extra: bool = False
    options: list[str] | None = None
    correct: int | list[int] | None = None
    accepted: list[str] | None = None
    module: str | None = Field(None, description="mock exams pass per module")


class ExamSummary(_Open):
    id: int
    owner: int | None = Field(description="the owner's user id; null for the platform's sample exams")
    title: str
    description: str
    kind: Literal["standard", "ielts_academic", "ielts_general", "cefr"]
    mode: Literal["exam", "trainer", "mock"]
    active: bool
    price: int = Field(ge=0, description="so'm; 0 is free")
    proctoring: Proctoring
    show_in_bot: bool
    show_in_mobile: bool
    time_limit_s: int | None
    pass_percent: int
    free_question_limit: int | None
    speaking_mode: Literal["async", "scheduled"] = Field(
        "async", description="IELTS/CEFR speaking: an uploaded recording, or a live call in a booked slot")
    question_count: int
    created_at: str


class ExamView(ExamSummary):
    updated_at: str
    questions: list[ExamQuestion] | None = None
    sections: list[dict[str, Any]] | None = None


class ExamCreate(BaseModel):
    """An exam as its owner writes it; `PATCH` takes any subset of these fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_EXAMPLE_EXAM]})

    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    kind: Literal["standard", "ielts_academic", "ielts_general", "cefr"] = "standard"
    mode: Literal["exam", "trainer", "mock"] = "exam"
    active: bool = True
    price: int = Field(0, ge=0)
    proctoring: dict[str, bool] = Field(default_factory=dict)
    show_in_bot: bool = False
    show_in_mobile: bool = False
    time_limit_s: int | None = Field(None, ge=10, le=86_400)
    pass_percent: int = Field(60, ge=0, le=100)
    free_question_limit: int | None = None
    speaking_mode: Literal["async", "scheduled"] = "async"
    questions: list[dict[str, Any]] | None = None
    sections: list[dict[str, Any]] | None = None


class ExamImported(_Open):
    exam: ExamView
    skipped: int = Field(description="questions of the file that could not be read")


class ExamPatch(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"active": False}, {"price": 15000}]})


class ExamPage(_Open):
    items: list[ExamSummary]
    next_cursor: str | None


class Availability(_Open):
    web: bool
    bot: bool
    mobile: bool
    group: bool


class ExamGameCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"time_limit": 20}]})

    time_limit: int | None = Field(None, ge=5, le=120, description="seconds per question")


class ExamGame(_Open):
    pin: str
    host_token: str
    question_count: int
    skipped: int
    exam_id: int


class AttemptStart(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"platform": "mobile"}]})

    platform: Literal["web", "bot", "mobile"]
    preview: bool = Field(False, description="a paid trainer's free version: its first questions, unpaid")


class ServedQuestion(_Open):
    n: int = Field(description="the question's position in the exam: the `n` of `PUT .../answers/{n}`")
    type: Literal["select_one", "select_many", "text", "free"]
    text: str
    extra: bool = False
    options: list[str] | None = None


class AttemptStarted(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "id": 41, "exam_id": 7, "platform": "mobile", "state": "in_progress", "mode": "exam",
        "started_at": "2026-12-02T10:00:00.000Z", "deadline": "2026-12-02T10:10:00.000Z",
        "proctoring": {"fullscreen": False, "camera": False},
        "questions": [{"n": 0, "type": "select_one", "text": "Capital of Uzbekistan?", "extra": False,
                       "options": ["Samarkand", "Tashkent"]}],
    }]})

    id: int
    exam_id: int
    platform: str
    state: Literal["in_progress"]
    mode: str
    started_at: str
    deadline: str | None
    proctoring: Proctoring
    questions: list[ServedQuestion]


class AnswerIn(BaseModel):
    """One of: `option` (select_one), `options` (select_many), `text` (text and free)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"option": 1}, {"options": [0, 2]}, {"text": "Paris"}]})

    option: int | None = None
    options: list[int] | None = None
    text: str | None = Field(None, max_length=5000)


class AnswerFeedback(_Open):
    n: int
    answer: dict[str, Any]
    correct: bool
    expected: dict[str, Any]


class AttemptResult(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"score": 4, "max": 5, "percent": 80.0, "passed": True, "state": "finished", "ended_by": "finish"}]})

    score: int
    max: int
    percent: float
    passed: bool
    state: Literal["finished"]
    ended_by: Literal["finish", "deadline", "fullscreen_exit"]
    modules: dict[str, dict[str, Any]] | None = None
    # An IELTS or CEFR attempt's result adds these (as `GET /api/attempts/{id}` and the lists do).
    bands: dict[str, float | None] | None = Field(default=None, description="IELTS: listening, reading, writing, "
                                                  "speaking (null while ungraded); CEFR: null")
    raw: dict[str, int | None] | None = Field(default=None, description="IELTS: correct out of 40")
    skills: dict[str, float | None] | None = Field(default=None, description="CEFR: percent per skill")
    overall: float | None = Field(default=None, description="IELTS: null until Writing and Speaking are graded")
    cefr: Literal["A1", "A2", "B1", "B2", "C1", "C2"] | None = None
    comments: dict[str, str | None] | None = None
    graded: dict[str, bool] | None = None


class AttemptSummary(_Open):
    id: int
    exam_id: int
    user_id: int | None
    telegram_id: int | None
    platform: str
    state: Literal["in_progress", "finished"]
    started_at: str
    deadline: str | None
    finished_at: str | None
    paid: int
    result: AttemptResult | None


class AttemptPage(_Open):
    items: list[AttemptSummary]
    next_cursor: str | None


class ProctorEventView(_Open):
    id: int
    type: str
    at: str
    face_count: int | None
    source: Literal["client", "server"]
    violation: bool
    has_image: bool


class AttemptView(AttemptSummary):
    questions: list[ServedQuestion]
    answers: list[dict[str, Any]] = Field(description="`{n, option | options | text}` per answered question")
    proctoring: dict[str, Any] = Field(description="`{violations, events: [...]}`")
    modules: dict[str, dict[str, Any]] | None = None


class NoFields(BaseModel):
    """Nothing to send: an empty body or `{}`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class ProctorEventIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "fullscreen_exit"}]})

    type: Literal["fullscreen_exit", "fullscreen_enter", "snapshot", "camera_denied", "tab_hidden", "tab_visible"]
    face_count: int | None = Field(None, ge=0, le=100, description="the client's claim; recorded, never trusted")


class EventOutcome(_Open):
    ended: bool = Field(description="this event ended the attempt (fullscreen exit on a fullscreen exam)")
    state: Literal["in_progress", "finished"]


class SnapshotCounted(_Open):
    id: int
    face_count: int = Field(description="faces the server found on the picture")
    violation: bool = Field(description="none or more than one face")
    at: str


_ID = {"type": "integer", "minimum": 1}
_N = {"type": "integer", "minimum": 0, "description": "the question's 0-based position in the exam"}
_SIGNED_IN = {401: ["unauthorized"], 429: ["rate_limited"]}
_WRITE = {**_SIGNED_IN, 403: ["csrf"], 413: ["too_large"]}
_AUTH: dict[str, Any] = {"security": [{"apiToken": []}]}
_EXAMS, _ATTEMPTS = ("exams",), ("attempts",)


def _error(status: int, codes: list[str]) -> dict[str, Any]:
    """An error response as `gameserver.openapi` writes them, for an operation whose responses
    are given whole (a binary success cannot be described by a model)."""
    return {"description": f"{status} error: " + ", ".join(f"`{code}`" for code in codes),
            "content": {"application/json": {"schema": {"allOf": [
                {"$ref": "#/components/schemas/ErrorEnvelope"},
                {"properties": {"error": {"properties": {"code": {"enum": codes}}}}}]}}}}


def _query(*names: tuple[str, dict[str, Any]], path: tuple[str, ...] = ()) -> dict[str, Any]:
    params = [{"name": p, "in": "path", "required": True, "schema": _ID} for p in path]
    params += [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in names]
    return {"parameters": params}


_PAGING = (("limit", {"type": "integer", "minimum": 1, "maximum": 100}), ("cursor", {"type": "string"}))

OPERATIONS = [
    Operation("POST", "/api/exams", "createExam", "Write an exam", responses={201: ExamView},
              request=ExamCreate, errors={**_WRITE, 422: ["invalid"]}, tags=_EXAMS, extra=_AUTH,
              description="Owned by the caller. `422 invalid` lists every problem in `details`. An IELTS "
              "exam has the sections listening, reading, writing and speaking, each once (`type` "
              "`section_skills` names the missing or repeated skill); a CEFR exam has each skill at most once."),
    Operation("POST", "/api/exams/import", "importExam", "A quiz file as a new exam",
              responses={201: ExamImported}, tags=_EXAMS,
              errors={**_WRITE, 413: ["file_too_large", "too_large"],
                      422: ["invalid", "no_questions", "unsupported_format", "bad_row"]},
              extra=_AUTH | {"requestBody": {"required": True, "content": {"application/octet-stream": {
                  "schema": {"type": "string", "format": "binary"}}}},
                  "parameters": [{"name": "filename", "in": "query", "required": False,
                                  "schema": {"type": "string", "maxLength": 255}}]},
              description="The file's bytes (.xlsx or .csv in Kahoot's layout, GIFT or Aiken; `?filename=` "
              "names its kind and the exam's title). The exam is the caller's and inactive until edited."),
    Operation("GET", "/api/exams", "listExams", "A page of exams: mine, or a search", responses={200: ExamPage},
              errors={**_SIGNED_IN, 422: ["invalid"]}, tags=_EXAMS,
              extra=_query(("mine", {"type": "string", "enum": ["1"]}), ("q", {"type": "string", "maxLength": 100}),
                           *_PAGING),
              description="`?mine=1` (signed in): the caller's exams, active or not. Otherwise active exams, "
              "`?q=` searching titles. Newest first; `next_cursor` is null at the end."),
    Operation("GET", "/api/exams/{exam_id}", "getExam", "An exam", responses={200: ExamView},
              errors={404: ["not_found"], 429: ["rate_limited"]}, tags=_EXAMS, parameters={"exam_id": _ID},
              description="The owner and admins see `correct`/`accepted`; anyone else sees the exam without them."),
    Operation("PATCH", "/api/exams/{exam_id}", "editExam", "Edit an exam (owner or admin)",
              responses={200: ExamView}, request=ExamPatch, tags=_EXAMS, parameters={"exam_id": _ID}, extra=_AUTH,
              errors={**_WRITE, 403: ["forbidden", "csrf"], 404: ["not_found"], 422: ["invalid"]},
              description="Fields not sent keep their values; the result is validated whole."),
    Operation("DELETE", "/api/exams/{exam_id}", "deleteExam", "Delete an exam (owner or admin)",
              responses={204: None}, tags=_EXAMS, parameters={"exam_id": _ID}, extra=_AUTH,
              errors={**_SIGNED_IN, 403: ["forbidden", "csrf"], 404: ["not_found"]}),
    Operation("GET", "/api/exams/{exam_id}/availability", "examAvailability", "Where the exam may be taken",
              responses={200: Availability}, errors={404: ["not_found"], 429: ["rate_limited"]}, tags=_EXAMS,
              parameters={"exam_id": _ID},
              description="By the table of 000 §10: proctored exams never on the bot nor in group play, paid "
              "exams never in group play, bot and mobile by the creator's settings; inactive: nowhere."),
    Operation("POST", "/api/exams/{exam_id}/games", "createExamGame", "Host a live group game from an exam",
              responses={201: ExamGame}, request=ExamGameCreate, tags=_EXAMS, parameters={"exam_id": _ID},
              extra=_AUTH,
              errors={**_WRITE, 404: ["not_found"], 409: ["exam_inactive", "exam_paid", "exam_proctored"],
                      422: ["invalid", "no_playable_questions"], 503: ["server_busy"]},
              description="Its `select_one` questions that are not `extra`, in order; the results are stored "
              "with the exam's id. Then play it like any game (`/ws/host/{pin}` with `host_token`)."),
    Operation("POST", "/api/exams/{exam_id}/attempts", "startAttempt", "Start a solo attempt",
              responses={201: AttemptStarted}, request=AttemptStart, tags=_ATTEMPTS, parameters={"exam_id": _ID},
              extra=_AUTH,
              errors={**_WRITE, 400: ["idempotency_key_required", "invalid_idempotency_key"],
                      402: ["insufficient_funds"], 403: ["platform_closed", "csrf"], 404: ["not_found"],
                      409: ["attempt_in_progress", "idempotency_mismatch", "owner_deleted"], 422: ["invalid"]},
              description="The mobile app sends `{\"platform\": \"mobile\"}` with its Bearer token. Questions "
              "come without answers, `extra` ones included. A paid exam takes its price from the wallet "
              "(bonus first) in the same transaction and needs an `Idempotency-Key` header; the same key "
              "answers the same again and pays once. One attempt in progress per user and exam: "
              "`409 attempt_in_progress` names it in `details[0].attempt_id`."),
    Operation("GET", "/api/exams/{exam_id}/attempts", "examAttempts", "Every attempt at an exam (its owner)",
              responses={200: AttemptPage}, tags=_ATTEMPTS,
              errors={**_SIGNED_IN, 403: ["forbidden"], 404: ["not_found"], 422: ["invalid"]},
              extra=_AUTH | _query(*_PAGING, path=("exam_id",)),
              description="With each attempt's result (an IELTS or CEFR attempt's with its bands, overall and "
              "CEFR level) and its count of proctoring violations."),
    Operation("GET", "/api/me/attempts", "myAttempts", "The caller's attempts", responses={200: AttemptPage},
              errors={**_SIGNED_IN, 422: ["invalid"]}, tags=_ATTEMPTS, extra=_AUTH | _query(*_PAGING),
              description="Newest first, each with its result (an IELTS or CEFR attempt's with its bands, "
              "overall and CEFR level)."),
    Operation("GET", "/api/attempts/{attempt_id}", "getAttempt", "An attempt, its answers and result",
              responses={200: AttemptView}, tags=_ATTEMPTS, parameters={"attempt_id": _ID}, extra=_AUTH,
              errors={**_SIGNED_IN, 404: ["not_found"]},
              description="For the one who took it, the exam's owner and admins. An attempt past its deadline "
              "is finished by the server with what was answered before it is shown."),
    Operation("PUT", "/api/attempts/{attempt_id}/answers/{n}", "answerQuestion", "Answer a question",
              responses={204: None}, request=AnswerIn, tags=_ATTEMPTS, parameters={"attempt_id": _ID, "n": _N},
              extra=_AUTH, errors={**_WRITE, 404: ["not_found"], 409: ["attempt_closed"], 422: ["invalid"]},
              description="`{option}` for select_one, `{options}` for select_many, `{text}` for text and free. "
              "An IELTS/CEFR Speaking prompt of an exam whose `speaking_mode` is `async` is answered by "
              "uploading a recording, never here: `422 invalid` with `details[0].type` `audio_required`. "
              "A later answer replaces the earlier one. After finish or past the deadline: `409 attempt_closed`."),
    Operation("GET", "/api/attempts/{attempt_id}/answers/{n}", "answerFeedback", "A trainer's result at once",
              responses={200: AnswerFeedback}, tags=_ATTEMPTS, parameters={"attempt_id": _ID, "n": _N},
              extra=_AUTH, errors={**_SIGNED_IN, 404: ["not_found"], 409: ["feedback_at_end"]},
              description="Trainers (001 §2.4.1) show whether an answer is right, and the right one, at once; "
              "other exams only once the attempt is finished."),
    Operation("POST", "/api/attempts/{attempt_id}/finish", "finishAttempt", "Finish and score",
              responses={200: AttemptResult}, request=NoFields, tags=_ATTEMPTS, parameters={"attempt_id": _ID},
              extra=_AUTH,
              errors={**_SIGNED_IN, 403: ["csrf"], 404: ["not_found"]},
              description="One point per question; select_many only when exactly right; text compared trimmed "
              "and case-insensitively; free questions count as correct; `passed` when percent ≥ pass_percent "
              "(per module, when questions name modules). Finishing again answers the same result."),
    Operation("POST", "/api/attempts/{attempt_id}/events", "attemptEvent", "Report a proctoring event",
              responses={200: EventOutcome}, request=ProctorEventIn, tags=_ATTEMPTS, parameters={"attempt_id": _ID},
              extra=_AUTH, errors={**_WRITE, 404: ["not_found"], 409: ["attempt_closed"], 422: ["invalid"]},
              description="`fullscreen_exit` on an exam with fullscreen required ends the attempt at once with "
              "score 0."),
    Operation("POST", "/api/attempts/{attempt_id}/snapshots", "attemptSnapshot", "Upload a camera snapshot",
              responses={201: SnapshotCounted}, tags=_ATTEMPTS, parameters={"attempt_id": _ID},
              errors={**_WRITE, 404: ["not_found"], 409: ["attempt_closed", "camera_not_required"],
                      415: ["unsupported_media_type"], 422: ["invalid"], 503: ["storage_unavailable"]},
              extra=_AUTH | {"requestBody": {"required": True, "content": {"image/jpeg": {
                  "schema": {"type": "string", "format": "binary", "maxLength": 1024 * 1024}}}}},
              description="The raw JPEG (`Content-Type: image/jpeg`, at most 1 MiB). The server counts the "
              "faces with OpenCV's bundled cascade; none or several is a violation the owner sees. 503 "
              "`storage_unavailable`: the picture could not be stored (the file store is down); send it again later."),
    Operation("GET", "/api/attempts/{attempt_id}/snapshots/{snapshot_id}", "getSnapshot", "A snapshot's picture",
              responses={200: None}, tags=_ATTEMPTS, parameters={"attempt_id": _ID, "snapshot_id": _ID},
              extra=_AUTH | {"responses": {
                  "200": {"description": "the picture", "content": {
                      "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
                  **{str(status): _error(status, codes) for status, codes in
                     {**_SIGNED_IN, 404: ["not_found"], 503: ["storage_unavailable"]}.items()},
              }},
              description="The JPEG (`image/jpeg`), for the exam's owner, admins and the one who took the "
              "attempt."),
]


def describe() -> None:
    for operation in OPERATIONS:
        register_operation(operation)
