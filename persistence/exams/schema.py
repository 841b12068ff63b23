"""What an exam may contain (PLATFORM.md "Exams"), validated with pydantic.

`parse_exam` turns a request body into `ExamSpec` (the settings and the questions in order)
or raises `ExamInvalid` with pydantic-style details (`loc`, `msg`, `type`) naming every
problem at once. IELTS and CEFR exams group their questions in `sections`; a question's
position `n` counts through the sections in order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

KINDS = ("standard", "ielts_academic", "ielts_general", "cefr")
IELTS_KINDS = ("ielts_academic", "ielts_general")
AUTO_SCORED_SKILLS = ("listening", "reading")
MODES = ("exam", "trainer", "mock")
SKILLS = ("listening", "reading", "writing", "speaking")
MAX_QUESTIONS = 500
MAX_OPTIONS = 10
MAX_PRICE = 100_000_000  # so'm: a bound on what one exam may cost
ANSWER_KEYS = ("correct", "accepted")

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Option = Annotated[str, Field(min_length=1, max_length=300)]


class ExamInvalid(Exception):
    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


def _visible(value: str) -> str:
    cleaned = value.strip()
    if not cleaned or any(ord(ch) < 32 and ch not in "\n\t" for ch in cleaned):
        raise ValueError("must have visible text and no control characters")
    return cleaned


class _Question(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: Text
    extra: bool = False
    time_limit: int | None = Field(default=None, ge=5, le=120, strict=True,
                                   description="seconds, when played in a group game")
    # A mock exam passes per module (001 §2.4.2: each module at the pass mark); None: no modules.
    module: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("text")
    @classmethod
    def _text_visible(cls, value: str) -> str:
        return _visible(value)


class _WithOptions(_Question):
    options: list[Option] = Field(min_length=2, max_length=MAX_OPTIONS)

    @field_validator("options")
    @classmethod
    def _options_distinct(cls, value: list[str]) -> list[str]:
        cleaned = [_visible(option) for option in value]
        if len({option.casefold() for option in cleaned}) != len(cleaned):
            raise ValueError("options must differ from each other")
        return cleaned


class SelectOne(_WithOptions):
    type: Literal["select_one"]
    correct: int = Field(ge=0, strict=True)

    @model_validator(mode="after")
    def _correct_in_range(self) -> SelectOne:
        if self.correct >= len(self.options):
            raise ValueError(f"correct must index options (0..{len(self.options) - 1})")
        return self


class SelectMany(_WithOptions):
    type: Literal["select_many"]
    correct: list[Annotated[int, Field(ge=0, strict=True)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _correct_in_range(self) -> SelectMany:
        if any(index >= len(self.options) for index in self.correct):
            raise ValueError(f"correct must index options (0..{len(self.options) - 1})")
        if len(set(self.correct)) != len(self.correct):
            raise ValueError("correct must not repeat an index")
        self.correct = sorted(self.correct)
        return self


class TextQuestion(_Question):
    type: Literal["text"]
    accepted: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=20)

    @field_validator("accepted")
    @classmethod
    def _accepted_visible(cls, value: list[str]) -> list[str]:
        return [_visible(answer) for answer in value]


class FreeQuestion(_Question):
    type: Literal["free"]


Question = Annotated[SelectOne | SelectMany | TextQuestion | FreeQuestion, Field(discriminator="type")]


class Section(BaseModel):
    model_config = ConfigDict(extra="ignore")

    skill: Literal["listening", "reading", "writing", "speaking"]
    questions: list[Question] = Field(min_length=1, max_length=MAX_QUESTIONS)


class Proctoring(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fullscreen: bool = False
    camera: bool = False


class ExamIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    kind: Literal["standard", "ielts_academic", "ielts_general", "cefr"] = "standard"
    mode: Literal["exam", "trainer", "mock"] = "exam"
    active: bool = Field(default=True, strict=True)
    price: int = Field(default=0, ge=0, le=MAX_PRICE, strict=True)
    proctoring: Proctoring = Field(default_factory=Proctoring)
    show_in_bot: bool = Field(default=False, strict=True)
    show_in_mobile: bool = Field(default=False, strict=True)
    time_limit_s: int | None = Field(default=None, ge=10, le=86_400, strict=True)
    pass_percent: int = Field(default=60, ge=0, le=100, strict=True)
    free_question_limit: int | None = Field(default=None, ge=1, le=MAX_QUESTIONS, strict=True)
    speaking_mode: Literal["async", "scheduled"] = "async"
    questions: list[Question] | None = Field(default=None, max_length=MAX_QUESTIONS)
    sections: list[Section] | None = Field(default=None, max_length=4)

    @field_validator("title")
    @classmethod
    def _title_visible(cls, value: str) -> str:
        cleaned = _visible(value)
        if "\n" in cleaned:
            raise ValueError("must be one line")
        return cleaned

    @field_validator("sections")
    @classmethod
    def _skills(cls, value: list[Section] | None, info: ValidationInfo) -> list[Section] | None:
        """IELTS's overall band is the mean of all four skills, so an IELTS exam has each of
        them exactly once; a CEFR exam may test fewer skills (its level is of those it has),
        but each at most once. A Listening or Reading section is scored by the machine, so it
        needs a question that can be checked (not `free`); a Speaking prompt is `free` (its answer
        is a recording or a live call, never an option)."""
        if not value:
            return value
        kind = info.data.get("kind")
        skills = [section.skill for section in value]
        duplicate = sorted({skill for skill in skills if skills.count(skill) > 1}, key=SKILLS.index)
        missing = [skill for skill in SKILLS if skill not in skills] if kind in IELTS_KINDS else []
        if missing or duplicate:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"{', '.join(duplicate)} more than once"] if duplicate else [])
            rule = ("an IELTS exam has the sections listening, reading, writing and speaking, each once"
                    if kind in IELTS_KINDS else "each skill is one section")
            raise PydanticCustomError("section_skills", "{rule}: {problems}",
                                      {"rule": rule, "problems": "; ".join(problems)})
        for section in value:
            if section.skill in AUTO_SCORED_SKILLS and all(q.type == "free" for q in section.questions):
                raise PydanticCustomError("section_unscored", "the {skill} section needs a question that can be "
                                          "checked (select_one, select_many or text)", {"skill": section.skill})
            if section.skill == "speaking" and any(q.type != "free" for q in section.questions):
                raise PydanticCustomError("speaking_not_free", "speaking prompts are free questions (answered "
                                          "by a recording or in a live call)", {})
        return value

    @model_validator(mode="after")
    def _shape(self) -> ExamIn:
        if self.kind == "standard":
            if self.sections is not None:
                raise ValueError("a standard exam has questions, not sections")
            if not self.questions:
                raise ValueError("an exam needs at least one question")
        else:
            if not self.sections:
                raise ValueError(f"a {self.kind} exam groups its questions in sections")
            if self.questions:
                raise ValueError(f"a {self.kind} exam has sections, not questions")
        if self.mode == "trainer" and any(q.type == "free" for q in self.flat_questions()):
            # 001 §2.4.1: a trainer shows each result at once, so it has no free-form questions.
            raise ValueError("a trainer has no free questions (their answers cannot be checked)")
        if len(self.flat_questions()) > MAX_QUESTIONS:
            raise ValueError(f"at most {MAX_QUESTIONS} questions")
        return self

    def flat_questions(self) -> list[SelectOne | SelectMany | TextQuestion | FreeQuestion]:
        if self.sections:
            return [question for section in self.sections for question in section.questions]
        return list(self.questions or [])


def parse_exam(data: object) -> ExamIn:
    try:
        return ExamIn.model_validate(data)
    except ValidationError as exc:
        raise ExamInvalid("the exam is not valid", details(exc)) from exc


def details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def content_of(spec: ExamIn) -> dict[str, Any]:
    """The stored document: the questions (or sections) with their answers."""
    if spec.sections:
        return {"sections": [section.model_dump() for section in spec.sections]}
    return {"questions": [question.model_dump() for question in spec.flat_questions()]}


def flat(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions of a stored document in position order (sections taken in order)."""
    if "sections" in content:
        return [question for section in content["sections"] for question in section["questions"]]
    return list(content.get("questions", []))


def without_answers(question: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in question.items() if key not in ANSWER_KEYS}
