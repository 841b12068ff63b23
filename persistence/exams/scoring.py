"""Scoring a standard exam (PLATFORM.md "Solo attempts"), and what an answer may look like.

One point per question served. `select_one`: the right option; `select_many`: exactly the
right set; `text`: one of the accepted answers, compared trimmed and case-insensitively;
`free` (an open oral or written answer): counts as correct whatever was sent (001 §2.4.2), so
a mock exam's oral and written questions never cost a point. `passed` when
`percent >= pass_percent`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_TEXT_ANSWER = 5000


class BadAnswer(ValueError):
    """The body does not answer this question (wrong field, option out of range, too long)."""


def parse_answer(question: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of an answer to `question`: `{option}`, `{options}` or `{text}`."""
    kind = question["type"]
    if kind == "select_one":
        option = body.get("option")
        if not isinstance(option, int) or isinstance(option, bool) or not 0 <= option < len(question["options"]):
            raise BadAnswer(f"send {{\"option\": 0..{len(question['options']) - 1}}}")
        return {"option": option}
    if kind == "select_many":
        options = body.get("options")
        count = len(question["options"])
        if (not isinstance(options, list)
                or not all(isinstance(o, int) and not isinstance(o, bool) and 0 <= o < count for o in options)
                or len(set(options)) != len(options)):
            raise BadAnswer(f"send {{\"options\": [distinct indexes 0..{count - 1}]}}")
        return {"options": sorted(options)}
    text = body.get("text")
    if not isinstance(text, str) or len(text) > MAX_TEXT_ANSWER:
        raise BadAnswer(f"send {{\"text\": \"...\"}} (at most {MAX_TEXT_ANSWER} characters)")
    return {"text": text}


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def is_correct(question: Mapping[str, Any], answer: Mapping[str, Any] | None) -> bool:
    kind = question["type"]
    if kind == "free":
        return True
    if answer is None:
        return False
    if kind == "select_one":
        return bool(answer.get("option") == question["correct"])
    if kind == "select_many":
        return sorted(answer.get("options", [])) == sorted(question["correct"])
    text = answer.get("text")
    return isinstance(text, str) and _normal(text) in {_normal(a) for a in question["accepted"]}


def expected(question: Mapping[str, Any]) -> dict[str, Any]:
    """The right answer as a trainer shows it after each question."""
    kind = question["type"]
    if kind == "select_one":
        return {"option": question["correct"]}
    if kind == "select_many":
        return {"options": list(question["correct"])}
    if kind == "text":
        return {"text": question["accepted"][0], "accepted": list(question["accepted"])}
    return {}


@dataclass(frozen=True)
class Score:
    score: int
    max: int
    percent: float
    passed: bool
    modules: dict[str, dict[str, Any]] | None = None  # per module, when the questions name modules

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {"score": self.score, "max": self.max, "percent": self.percent, "passed": self.passed}
        if self.modules is not None:
            body["modules"] = self.modules
        return body


def percent_of(score: int, maximum: int) -> float:
    return round(100 * score / maximum, 2) if maximum else 0.0


def score_attempt(
    questions: Sequence[Mapping[str, Any]], positions: Sequence[int], answers: Mapping[int, Mapping[str, Any]],
    pass_percent: int,
) -> Score:
    """The score over the questions served (`positions`), from the answers given. When the
    questions name modules, each module must reach `pass_percent` on its own (001 §2.4.2)."""
    right = {n: is_correct(questions[n], answers.get(n)) for n in positions}
    points = sum(right.values())
    maximum = len(positions)
    percent = percent_of(points, maximum)
    named = {n: questions[n].get("module") for n in positions}
    if not any(named.values()):
        return Score(points, maximum, percent, percent >= pass_percent)
    modules: dict[str, dict[str, Any]] = {}
    for n, module in named.items():
        entry = modules.setdefault(module or "", {"score": 0, "max": 0})
        entry["score"] += int(right[n])
        entry["max"] += 1
    for entry in modules.values():
        entry["percent"] = percent_of(entry["score"], entry["max"])
        entry["passed"] = entry["percent"] >= pass_percent
    return Score(points, maximum, percent, all(e["passed"] for e in modules.values()), modules)


def zero(positions: Sequence[int]) -> Score:
    """The result of an attempt ended by a proctoring rule (000 §10: fullscreen exit → 0)."""
    return Score(0, len(positions), 0.0, False)
