"""Request and response bodies of the HTTP API, as pydantic models: the source of the OpenAPI
schemas in `gameserver.openapi` (PROTOCOL.md "HTTP" is the contract they describe).

The handlers in `gameserver.http_api` build plain dicts for speed; these models only describe
them, and the schemathesis test checks that the two agree. Response models allow extra fields
(the server may add fields, PROTOCOL.md), request models document what is read. The quiz
question itself is `gameserver.quizzes.QuestionIn`, the model that validates it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gameserver.quizzes import QuestionIn
from statemachine.names import MAX_NAME_LENGTH

PIN_PATTERN = "^[0-9]{6}$"
Phase = Literal["WAITING", "ACTIVE", "BETWEEN", "FINISHED"]


class _Open(BaseModel):
    """A response body: fields may be added later, clients must ignore the unknown ones."""

    model_config = ConfigDict(extra="allow")


# -- errors ----------------------------------------------------------------------------------


class Problem(_Open):
    """One problem with a request body, pydantic style: where, what, and a stable kind."""

    loc: list[str | int] = Field(description="path to the offending value, from the body's root")
    msg: str
    type: str = Field(description="stable kind of problem, e.g. 'missing', 'too_short', 'json_invalid'")


class ErrorBody(_Open):
    code: str = Field(description="stable error code (PROTOCOL.md 'Error codes'), e.g. 'name_taken'")
    message: str = Field(description="for humans; may change")
    details: list[Problem] | None = Field(
        None, description="present on `invalid_quiz` and malformed bodies: every problem found"
    )


class ErrorEnvelope(_Open):
    """Every non-2xx answer of the API (except `/healthz`) has this body."""

    error: ErrorBody


# -- games -----------------------------------------------------------------------------------


def _document_question(schema: dict[str, Any]) -> None:
    """Put the rules `QuestionIn` checks in validators into its JSON Schema, for clients and
    generators. Only the documentation changes: validation stays `QuestionIn`'s."""
    props = schema["properties"]
    not_blank = {"pattern": r"\S", "description": "not blank; surrounding whitespace is trimmed"}
    props["text"] |= not_blank
    props["options"]["items"] = {"type": "string", "minLength": 1, "maxLength": 150, **not_blank}
    props["options"]["description"] = "2-6 answers, each 1-150 characters"
    props["correct"] |= {"maximum": 5, "description": "index of the right answer in `options`"}
    props["type"]["description"] = "only `select_one` is played; questions of other types are skipped"
    schema["examples"] = [
        {"text": "Capital of France?", "options": ["Lyon", "Paris", "Nice"], "correct": 1, "time_limit": 20}
    ]


class QuestionCreate(QuestionIn):
    """A `select_one` question: `QuestionIn` with its rules spelled out in the schema."""

    model_config = ConfigDict(json_schema_extra=_document_question)


class OtherQuestion(BaseModel):
    """A question of another type (e.g. `multi_select`): skipped and counted, not validated."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"not": {"properties": {"type": {"const": "select_one"}}}}
    )

    type: str = Field(description="anything but `select_one`")


class QuizCreate(BaseModel):
    """`POST /api/games`. Questions whose `type` is not `select_one` are skipped unvalidated
    and counted in `skipped`; a quiz with no playable question is refused (422)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "title": "Geography",
                    "questions": [
                        {"text": "Capital of France?", "options": ["Lyon", "Paris", "Nice"], "correct": 1,
                         "time_limit": 20},
                        {"text": "Pick all seas", "type": "multi_select", "options": ["Black", "Red"]},
                    ],
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=200)
    questions: list[QuestionCreate | OtherQuestion] = Field(
        min_length=1, max_length=200, description="at most 200 by default (setting `LIVEQUIZ_MAX_QUESTIONS`)"
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="`lead_in_s`: the \"get ready\" seconds before each question takes answers (0-10, default 0); "
        "other keys are ignored",
        examples=[{"lead_in_s": 4}],
    )


class GameCreated(_Open):
    pin: str = Field(pattern=PIN_PATTERN, description="6 digits, for players to join with")
    host_token: str = Field(min_length=1, description="secret of the host: `host` message, results")
    question_count: int = Field(ge=1, description="playable (select_one) questions")
    skipped: int = Field(ge=0, description="questions of other types, left out")


class GameInfo(_Open):
    pin: str = Field(pattern=PIN_PATTERN)
    title: str
    phase: Phase
    players: int = Field(ge=0, description="players who have joined")
    question_count: int = Field(ge=1)


# -- players ---------------------------------------------------------------------------------


class PlayerJoin(BaseModel):
    """`POST /api/games/{pin}/players`: join without a socket (the mobile app), then `resume`
    on `/ws/play/{pin}` with the token."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(
        description=f"display name: trimmed, inner whitespace collapsed, NFC; 1-{MAX_NAME_LENGTH} characters, "
        "no control or format characters; unique in the game ignoring case",
        # Documentation only (statemachine.names decides): the trimmed name's bounds.
        json_schema_extra={"minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": r"\S"},
    )


class PlayerSeat(_Open):
    player_id: str = Field(min_length=1)
    token: str = Field(min_length=1, description="send `{\"type\":\"resume\",\"token\":...}` on the socket")
    name: str = Field(description="the name as normalized and shown to everyone")


# -- results ---------------------------------------------------------------------------------


class ResultRow(_Open):
    rank: int = Field(ge=1, description="competition ranking (1, 2, 2, 4)")
    name: str
    score: int = Field(ge=0)
    answers: int = Field(ge=0, description="questions answered")
    correct: int = Field(ge=0, description="questions answered correctly")


class Results(_Open):
    results: list[ResultRow] = Field(description="every player, best first")


# -- health ----------------------------------------------------------------------------------


class Health(_Open):
    status: Literal["ok"]


class HealthUnavailable(_Open):
    status: Literal["unavailable"]
    redis: str = Field(description="what went wrong reaching Redis")


# -- web UI helpers (gameserver.web) ---------------------------------------------------------


class JoinInfo(_Open):
    pin: str = Field(pattern=PIN_PATTERN)
    url: str = Field(description="the page players open to join")
    qr: str = Field(description="path of an SVG QR code of `url`")
    base: str


class SampleSummary(_Open):
    name: str
    title: str
    question_count: int = Field(ge=0)


class SampleList(_Open):
    samples: list[SampleSummary]


class SampleQuiz(_Open):
    """A bundled sample quiz without its answer keys (no `correct`): posted back to
    `POST /api/games` as it is, the server plays the stored sample named by `sample`."""

    sample: str
    title: str
    questions: list[dict[str, Any]]
