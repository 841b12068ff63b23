"""The result of a finished IELTS or CEFR attempt (PLATFORM.md "IELTS and CEFR").

Listening and Reading are scored here from the stored answers: the section's questions that
were served and can be checked (not `free`) are its raw score's "out of"; an IELTS section is
converted to a band by the tables (scaled to 40 when it has another length), a CEFR section
to a percentage. Writing and Speaking carry what a grader gave, or null until then. The
overall band (IELTS) or the level (CEFR) stays null until Writing and Speaking are both graded:
the release rule. An IELTS exam has all four skills (the schema refuses one without), so its
overall is the mean of four; a CEFR exam may test fewer, and its level is of the mean of the
skills it tests (a skill it lacks reads null and does not hold the level back). An attempt a
proctoring rule ended (fullscreen exit) scores nothing right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from persistence.exams.scoring import is_correct, percent_of
from persistence.ielts import bands
from persistence.ielts.models import Grade

IELTS_KINDS = ("ielts_academic", "ielts_general")
GRADED_KINDS = (*IELTS_KINDS, "cefr")
AUTO_SKILLS = ("listening", "reading")
HUMAN_SKILLS = ("writing", "speaking")
SKILLS = (*AUTO_SKILLS, *HUMAN_SKILLS)


def section_of_positions(content: Mapping[str, Any]) -> dict[int, str]:
    """The skill of each question position (positions count through the sections in order)."""
    skills: dict[int, str] = {}
    for section in content.get("sections", []):
        for _question in section["questions"]:
            skills[len(skills)] = section["skill"]
    return skills


def takes_recording(kind: str, speaking_mode: str, content: Mapping[str, Any], n: int) -> bool:
    """Whether question `n` is answered by an uploaded recording (an async Speaking prompt of an
    IELTS/CEFR exam), so a text answer to it is refused."""
    return kind in GRADED_KINDS and speaking_mode == "async" and section_of_positions(content).get(n) == "speaking"


def records_speaking(kind: str, speaking_mode: str, content: Mapping[str, Any]) -> bool:
    """Whether the exam has Speaking answered by recordings (the bot, which takes text, cannot)."""
    return kind in GRADED_KINDS and speaking_mode == "async" and "speaking" in skills_present(content)


def skills_present(content: Mapping[str, Any]) -> set[str]:
    return {section["skill"] for section in content.get("sections", [])}


@dataclass(frozen=True)
class Raw:
    correct: int
    questions: int


def raw_scores(
    content: Mapping[str, Any], questions: Sequence[Mapping[str, Any]], served: Sequence[int],
    answers: Mapping[int, Mapping[str, Any]], *, zeroed: bool = False,
) -> dict[str, Raw]:
    """Correct answers and checkable questions served, per auto-scored skill."""
    skill_of = section_of_positions(content)
    totals = {skill: [0, 0] for skill in AUTO_SKILLS}
    for n in served:
        skill = skill_of.get(n)
        if skill not in totals or n >= len(questions) or questions[n]["type"] == "free":
            continue
        totals[skill][1] += 1
        if not zeroed and is_correct(questions[n], answers.get(n)):
            totals[skill][0] += 1
    return {skill: Raw(correct, count) for skill, (correct, count) in totals.items()}


def awaiting(content: Mapping[str, Any], grades: Mapping[str, Grade]) -> list[str]:
    """The human-graded sections the exam has that nobody has graded yet."""
    present = skills_present(content)
    return [skill for skill in HUMAN_SKILLS if skill in present and skill not in grades]


def _grade_value(grade: Grade | None, kind: str) -> float | None:
    if grade is None:
        return None
    return grade.band if kind in IELTS_KINDS else grade.percent


def graded_result(
    kind: str, content: Mapping[str, Any], questions: Sequence[Mapping[str, Any]], served: Sequence[int],
    answers: Mapping[int, Mapping[str, Any]], grades: Mapping[str, Grade], *, zeroed: bool = False,
) -> dict[str, Any]:
    """The fields an IELTS or CEFR attempt's result adds to the standard score."""
    raw = raw_scores(content, questions, served, answers, zeroed=zeroed)
    comments = {skill: grades[skill].comment if skill in grades else None for skill in HUMAN_SKILLS}
    graded = {skill: skill in grades for skill in HUMAN_SKILLS}
    if kind in IELTS_KINDS:
        tables = {"listening": "listening", "reading": bands.reading_table(kind)}
        skill_bands: dict[str, float | None] = {
            skill: bands.raw_to_band(tables[skill], raw[skill].correct, raw[skill].questions)
            if raw[skill].questions else None
            for skill in AUTO_SKILLS
        }
        skill_bands.update({skill: _grade_value(grades.get(skill), kind) for skill in HUMAN_SKILLS})
        overall = bands.overall_band(skill_bands[skill] for skill in SKILLS)
        return {
            "bands": skill_bands,
            "raw": {skill: bands.scaled_to_40(raw[skill].correct, raw[skill].questions) if raw[skill].questions
                    else None for skill in AUTO_SKILLS},
            "overall": overall, "cefr": bands.cefr_of_band(overall), "comments": comments, "graded": graded,
        }
    skills: dict[str, float | None] = {
        skill: percent_of(raw[skill].correct, raw[skill].questions) if raw[skill].questions else None
        for skill in AUTO_SKILLS
    }
    skills.update({skill: _grade_value(grades.get(skill), kind) for skill in HUMAN_SKILLS})
    tested = skills_present(content)  # a CEFR exam may test fewer than four skills
    return {"skills": skills, "bands": None, "overall": None,
            "cefr": bands.cefr_of_skills(skills[skill] for skill in SKILLS if skill in tested),
            "comments": comments, "graded": graded}
