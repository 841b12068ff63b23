"""IELTS bands and CEFR levels: pure functions over the tables shipped in `data/`.

- `raw_to_band(table, correct, questions)`: a Listening or Reading section's correct answers to
  a band by the published conversion table (`data/bands.json`, its source cited there). The
  tables are written for 40 questions; a section of another length is scaled to 40 first,
  `round(correct * 40 / questions)` with halves rounded up, so a 20-question practice section
  with 15 right reads the row of 30 right.
- `round_band(mean)`: IELTS's overall-band rounding — the mean of the four skills to the
  nearest half band, a quarter rounding up: x.25 → x.5, x.75 → (x+1).0, x.125 → x.0. Computed
  on exact fractions: the mean of four half-bands is a multiple of 1/8, and a float compare at
  x.25 must not depend on representation.
- `overall_band(bands)`: None unless all four bands are known (the release rule).
- `cefr_of_band(band)` / `cefr_of_percent(percent)`: levels by `data/cefr.json`;
  `cefr_of_skills(percents)`: a CEFR exam's level, of the mean of the skills it tests.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE_QUESTIONS = 40
TABLES = ("listening", "reading_academic", "reading_general")
LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")


@functools.cache
def _data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((DATA_DIR / name).read_bytes())
    return loaded


def table(name: str) -> list[tuple[int, float]]:
    """(least correct answers, band) rows, highest first."""
    rows = _data("bands.json")["tables"][name]
    return [(int(row["min"]), float(row["band"])) for row in rows]


def scaled_to_40(correct: int, questions: int) -> int:
    """The raw score out of 40 of `correct` out of `questions` (halves round up)."""
    if questions <= 0:
        return 0
    if questions == TABLE_QUESTIONS:
        return max(0, min(correct, TABLE_QUESTIONS))
    scaled = math.floor(Fraction(correct * TABLE_QUESTIONS, questions) + Fraction(1, 2))
    return max(0, min(scaled, TABLE_QUESTIONS))


def raw_to_band(name: str, correct: int, questions: int = TABLE_QUESTIONS) -> float:
    raw = scaled_to_40(correct, questions)
    for least, band in table(name):
        if raw >= least:
            return band
    return 0.0


def reading_table(kind: str) -> str:
    return "reading_general" if kind == "ielts_general" else "reading_academic"


def round_band(mean: float | Fraction) -> float:
    """The nearest half band, a quarter rounding up (6.25 → 6.5, 6.125 → 6.0, 6.75 → 7.0)."""
    exact = Fraction(mean)
    whole = math.floor(exact)
    rest = exact - whole
    if rest < Fraction(1, 4):
        return float(whole)
    if rest < Fraction(3, 4):
        return whole + 0.5
    return float(whole + 1)


def is_band(value: object) -> bool:
    """0..9 in steps of 0.5 (a grader's band)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return 0 <= value <= 9 and float(value * 2).is_integer()


def overall_band(bands: Iterable[float | None]) -> float | None:
    known = list(bands)
    if len(known) != 4 or any(band is None for band in known):
        return None
    return round_band(sum((Fraction(band) for band in known if band is not None), Fraction(0)) / 4)


def _level(rows: Sequence[dict[str, Any]], value: float) -> str:
    for row in rows:
        if value >= float(row["min"]):
            return str(row["level"])
    return LEVELS[0]


def cefr_of_band(band: float | None) -> str | None:
    return None if band is None else _level(_data("cefr.json")["band_levels"], band)


def cefr_of_percent(percent: float | None) -> str | None:
    return None if percent is None else _level(_data("cefr.json")["percent_thresholds"], percent)


def cefr_of_skills(percents: Iterable[float | None]) -> str | None:
    """The CEFR exam's level: of the mean of the percentages of the skills it tests (one to
    four), once all of them are known."""
    known = list(percents)
    if not known or any(p is None for p in known):
        return None
    return cefr_of_percent(sum(p for p in known if p is not None) / len(known))
