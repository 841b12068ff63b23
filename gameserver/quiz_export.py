"""A quiz written back out as a file: Kahoot's spreadsheet layout (.xlsx, .csv), GIFT or Aiken.

Each export reads back through `quiz_import` to the same questions (tested both ways). The
input is a quiz already judged by `quizzes.parse_quiz`, so every bound holds here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

from gameserver.quizzes import Quiz

LETTERS = "ABCDEF"

#: Kahoot's template names its columns like this; `quiz_import` finds them by these words.
QUESTION_HEADER = "Question - max 500 characters"
ANSWER_HEADER = "Answer {n} - max 150 characters"
TIME_HEADER = "Time limit (sec) - 5 to 120"
CORRECT_HEADER = "Correct answer (1-{n})"

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "gift": "text/plain; charset=utf-8",
    "aiken": "text/plain; charset=utf-8",
}


def _table(quiz: Quiz) -> list[list[str | int]]:
    width = max(4, *(len(q.options) for q in quiz.questions))
    header: list[str | int] = [
        QUESTION_HEADER,
        *(ANSWER_HEADER.format(n=n) for n in range(1, width + 1)),
        TIME_HEADER,
        CORRECT_HEADER.format(n=width),
    ]
    rows = [header]
    for q in quiz.questions:
        answers = list(q.options) + [""] * (width - len(q.options))
        rows.append([q.text, *answers, q.time_limit_ms // 1000, q.correct + 1])
    return rows


def _spreadsheet_safe(value: str | int) -> str | int:
    """A text a spreadsheet would run as a formula gets a leading apostrophe (CSV)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(quiz: Quiz) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in _table(quiz):
        writer.writerow([_spreadsheet_safe(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def to_xlsx(quiz: Quiz) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Quiz"
    for row in _table(quiz):
        sheet.append(row)
    for row_cells in sheet.iter_rows():
        for cell in row_cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula, whatever it starts with
    sheet.column_dimensions["A"].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_GIFT_ESCAPE = re.compile(r"([~=#{}:\\])")


def _gift(value: str) -> str:
    return _GIFT_ESCAPE.sub(r"\\\1", value).replace("\n", "\\n")


def to_gift(quiz: Quiz) -> bytes:
    blocks = []
    for index, q in enumerate(quiz.questions, start=1):
        answers = "\n".join(f"{'=' if i == q.correct else '~'}{_gift(o)}" for i, o in enumerate(q.options))
        blocks.append(f"::Q{index}:: {_gift(q.text)} {{\n{answers}\n}}")
    return ("// " + quiz.title.replace("\n", " ") + "\n\n" + "\n\n".join(blocks) + "\n").encode("utf-8")


def _one_line(value: str) -> str:
    return " ".join(value.split())


def to_aiken(quiz: Quiz) -> bytes:
    blocks = []
    for q in quiz.questions:
        lines = [_one_line(q.text)]
        lines += [f"{LETTERS[i]}. {_one_line(o)}" for i, o in enumerate(q.options)]
        lines.append(f"ANSWER: {LETTERS[q.correct]}")
        blocks.append("\n".join(lines))
    return ("\n\n".join(blocks) + "\n").encode("utf-8")


EXPORTERS: dict[str, Callable[[Quiz], bytes]] = {"xlsx": to_xlsx, "csv": to_csv, "gift": to_gift, "aiken": to_aiken}
