"""Quiz input: validated with pydantic at the HTTP edge, then kept as plain frozen data.

Only single-correct-answer (`select_one`) questions are played; any other type is skipped
(not validated: other types have other fields) and counted in the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from statemachine.errors import InvalidQuiz

PLAYABLE_TYPE = "select_one"


@dataclass(frozen=True)
class Question:
    text: str
    options: tuple[str, ...]
    correct: int
    time_limit_ms: int


@dataclass(frozen=True)
class Quiz:
    title: str
    questions: tuple[Question, ...]

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "title": self.title,
                "questions": [
                    {"text": q.text, "options": list(q.options), "correct": q.correct, "time_limit_ms": q.time_limit_ms}
                    for q in self.questions
                ],
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Quiz:
        data = orjson.loads(raw)
        return cls(
            title=data["title"],
            questions=tuple(
                Question(q["text"], tuple(q["options"]), q["correct"], q["time_limit_ms"]) for q in data["questions"]
            ),
        )


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=500)
    options: list[str] = Field(min_length=2, max_length=6)
    correct: int = Field(ge=0, strict=True)
    time_limit: int = Field(ge=5, le=120, strict=True, description="seconds")
    type: str = PLAYABLE_TYPE

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("options")
    @classmethod
    def _options_not_blank(cls, value: list[str]) -> list[str]:
        cleaned = [option.strip() for option in value]
        if any(not option or len(option) > 150 for option in cleaned):
            raise ValueError("every option must be 1-150 characters")
        return cleaned

    @model_validator(mode="after")
    def _correct_in_range(self) -> QuestionIn:
        if self.correct >= len(self.options):
            raise ValueError(f"correct must index options (0..{len(self.options) - 1})")
        return self


class QuizIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=200)
    questions: list[dict[str, Any]] = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)


def parse_quiz(data: object, *, max_questions: int) -> tuple[Quiz, int]:
    """Validate a `POST /api/games` body. Returns the playable quiz and how many were skipped.
    Raises InvalidQuiz with `details` (pydantic-style: loc, msg, type) on any problem."""
    try:
        quiz_in = QuizIn.model_validate(data)
    except ValidationError as exc:
        raise InvalidQuiz("the quiz is not valid", details=_details(exc, ())) from exc
    if len(quiz_in.questions) > max_questions:
        raise InvalidQuiz(
            "too many questions",
            details=[{"loc": ["questions"], "msg": f"at most {max_questions} questions", "type": "too_long"}],
        )
    questions: list[Question] = []
    skipped = 0
    problems: list[dict[str, Any]] = []
    for index, raw in enumerate(quiz_in.questions):
        if raw.get("type", PLAYABLE_TYPE) != PLAYABLE_TYPE:
            skipped += 1
            continue
        try:
            q = QuestionIn.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_details(exc, ("questions", index)))
            continue
        questions.append(Question(q.text, tuple(q.options), q.correct, q.time_limit * 1000))
    if problems:
        raise InvalidQuiz("some questions are not valid", details=problems)
    if not questions:
        raise InvalidQuiz(
            "the quiz has no playable question",
            details=[{"loc": ["questions"], "msg": "no select_one question", "type": "no_playable_question"}],
        )
    return Quiz(quiz_in.title.strip() or quiz_in.title, tuple(questions)), skipped


def _details(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
