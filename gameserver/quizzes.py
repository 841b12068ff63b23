"""Quiz input: validated with pydantic at the HTTP edge, then kept as plain frozen data.

Only single-correct-answer (`select_one`) questions are played; any other type is skipped
(not validated: other types have other fields) and counted in the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from statemachine.errors import InvalidQuiz
from statemachine.text import first_layout_breaker, has_visible, visible_key

PLAYABLE_TYPE = "select_one"
#: The bundled sample quizzes. Their answer keys stay on the server: the public preview
#: (`public_sample`) has none, and `POST /api/games {"sample": name}` plays one by name.
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
SAMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


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
    #: The "get ready" lead-in before each question takes answers (`settings.lead_in_s`).
    lead_in_ms: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "title": self.title,
                "questions": [
                    {"text": q.text, "options": list(q.options), "correct": q.correct, "time_limit_ms": q.time_limit_ms}
                    for q in self.questions
                ],
                "lead_in_ms": self.lead_in_ms,
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
            lead_in_ms=int(data.get("lead_in_ms", 0)),
        )


MAX_OPTION_LENGTH = 150


def _shown_text(value: str, *, newlines: bool) -> str:
    """`value` stripped, or ValueError when it would show nothing or break the layout of the
    shared screen (a control character, a direction override; a newline where one line is
    drawn). See `statemachine.text`."""
    cleaned = value.strip()
    breaker = first_layout_breaker(cleaned, newlines=newlines)
    if breaker is not None:
        raise ValueError(f"must not contain control or direction characters (U+{ord(breaker):04X})")
    if not has_visible(cleaned):
        raise ValueError("must have a visible character")
    return cleaned


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=500)
    options: list[str] = Field(min_length=2, max_length=6)
    correct: int = Field(ge=0, strict=True)
    time_limit: int = Field(ge=5, le=120, strict=True, description="seconds")
    type: str = PLAYABLE_TYPE

    @field_validator("text")
    @classmethod
    def _text_visible(cls, value: str) -> str:
        return _shown_text(value, newlines=True)

    @field_validator("options")
    @classmethod
    def _options_visible_and_distinct(cls, value: list[str]) -> list[str]:
        cleaned = [_shown_text(option, newlines=False) for option in value]
        if any(len(option) > MAX_OPTION_LENGTH for option in cleaned):
            raise ValueError(f"every option must be 1-{MAX_OPTION_LENGTH} characters")
        keys = [visible_key(option) for option in cleaned]
        if len(set(keys)) != len(keys):
            raise ValueError("options must differ from each other")
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

    @field_validator("title")
    @classmethod
    def _title_visible(cls, value: str) -> str:
        return _shown_text(value, newlines=False)


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
    return Quiz(quiz_in.title, tuple(questions), lead_in_ms=_lead_in_s(quiz_in.settings) * 1000), skipped


#: Longest "get ready" lead-in a quiz may ask for, in seconds (0: answers open with the question).
MAX_LEAD_IN_S = 10


def _lead_in_s(settings: dict[str, Any]) -> int:
    """`settings.lead_in_s`: whole seconds, 0..MAX_LEAD_IN_S, 0 when absent."""
    value = settings.get("lead_in_s", 0)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_LEAD_IN_S:
        return value
    raise InvalidQuiz(
        "the quiz settings are not valid",
        details=[{"loc": ["settings", "lead_in_s"], "msg": f"an integer from 0 to {MAX_LEAD_IN_S} (seconds)",
                  "type": "lead_in"}],
    )


def _details(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def load_sample(name: str) -> dict[str, Any] | None:
    """The bundled sample quiz `name` as stored (answer keys included), or None."""
    if not SAMPLE_NAME.match(name):
        return None
    try:
        data = orjson.loads((SAMPLES_DIR / f"{name}.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def public_sample(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of a sample: its questions without `correct`, and its name, so that
    posting the preview back (`{"sample": name, ...}`) creates the real game."""
    questions = [
        {key: value for key, value in question.items() if key != "correct"} if isinstance(question, dict) else question
        for question in data.get("questions") or []
    ]
    return {"sample": name, **{k: v for k, v in data.items() if k != "questions"}, "questions": questions}


def quiz_source(data: object) -> object:
    """The quiz a `POST /api/games` body asks for: the body itself, or with a `sample` field
    the bundled sample of that name (the body's other fields are then not used). Raises
    InvalidQuiz for an unknown sample."""
    if not isinstance(data, dict) or "sample" not in data:
        return data
    name = data["sample"]
    sample = load_sample(name) if isinstance(name, str) else None
    if sample is None:
        raise InvalidQuiz(
            "no such sample quiz",
            details=[{"loc": ["sample"], "msg": "not a bundled sample", "type": "unknown_sample"}],
        )
    return sample
