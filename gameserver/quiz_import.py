"""Quiz files teachers already have, read into the quiz JSON of `POST /api/games`.

Formats: a spreadsheet in Kahoot's quiz template layout (.xlsx or .csv: question, answers 1-4,
time limit in seconds, correct answer number), GIFT (Moodle) and Aiken text. Only questions
with exactly one correct answer are taken; the others are counted as skipped. The result is
not validated here: the editor shows it, and `POST /api/games` judges it (quizzes.py).
Every bound is checked before parsing: bytes in, rows, cells, a zip's unpacked size.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_UNZIPPED_BYTES = 20 * 1024 * 1024  # an .xlsx is a zip: refuse zip bombs before opening
MAX_ROWS = 1000
MAX_QUESTIONS = 200
MAX_COLUMNS = 20
DEFAULT_TIME_LIMIT = 20
MIN_TIME_LIMIT, MAX_TIME_LIMIT = 5, 120


class QuizFileError(Exception):
    """A file that cannot be imported. `code` is stable; `line` is 1-based where known."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line

    def details(self) -> list[dict[str, Any]]:
        loc: list[str | int] = ["file"] if self.line is None else ["line", self.line]
        return [{"loc": loc, "msg": self.message, "type": self.code}]


@dataclass
class Imported:
    title: str
    questions: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    def add(self, text: str, options: list[str], correct: int, time_limit: int = DEFAULT_TIME_LIMIT) -> None:
        if len(self.questions) >= MAX_QUESTIONS:
            self.skipped += 1
            return
        self.questions.append(
            {"type": "select_one", "text": text, "options": options, "correct": correct, "time_limit": time_limit}
        )

    def as_quiz(self) -> dict[str, Any]:
        if not self.questions:
            raise QuizFileError("no_questions", "no question with exactly one correct answer was found")
        return {"title": self.title, "questions": self.questions}


def import_quiz(data: bytes, filename: str) -> tuple[dict[str, Any], int]:
    """The quiz in `data` and how many questions were skipped. Raises QuizFileError."""
    if len(data) > MAX_FILE_BYTES:
        raise QuizFileError("file_too_large", f"at most {MAX_FILE_BYTES} bytes")
    path = PurePath(filename or "quiz")
    title = path.stem[:200].strip() or "Quiz"
    suffix = path.suffix.lower()
    if data[:4] == b"PK\x03\x04" or suffix == ".xlsx":
        result = Imported(title)
        _read_table(_xlsx_rows(data), result)
        return result.as_quiz(), result.skipped
    text = _decode(data)
    result = Imported(title)
    if suffix == ".csv":
        _read_table(_csv_rows(text), result)
    elif suffix == ".gift":
        _read_gift(text, result)
    elif suffix == ".aiken" or re.search(r"^ANSWER\s*:\s*[A-Z]\s*$", text, re.MULTILINE):
        _read_aiken(text, result)  # Aiken first: its strict ANSWER lines rarely occur in GIFT
    elif _looks_like_gift(text):
        _read_gift(text, result)
    else:
        raise QuizFileError("unsupported_format", "use .xlsx, .csv (Kahoot layout), GIFT or Aiken text")
    return result.as_quiz(), result.skipped


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise QuizFileError("unsupported_format", "the text is neither UTF-8 nor Windows-1251")


# ---------- spreadsheets (Kahoot's template) ----------


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise QuizFileError("file_too_large", "the spreadsheet unpacks to too much data")
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except QuizFileError:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise QuizFileError("unsupported_format", "not a readable .xlsx file") from exc
    try:
        sheet = book.worksheets[0]
        rows: list[list[Any]] = []
        for row in sheet.iter_rows(max_row=MAX_ROWS, max_col=MAX_COLUMNS, values_only=True):
            rows.append(list(row))
        return rows
    finally:
        book.close()


def _csv_rows(text: str) -> list[list[Any]]:
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = []
    for index, row in enumerate(csv.reader(io.StringIO(text), dialect)):
        if index >= MAX_ROWS:
            break
        rows.append(row[:MAX_COLUMNS])
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]  # the apostrophe our CSV export puts before formula-like text
    return text


@dataclass
class _Columns:
    question: int
    answers: list[int]
    time: int | None
    correct: int | None


def _header(rows: list[list[Any]]) -> tuple[int, _Columns] | None:
    """Kahoot's template has a few lines of instructions above a header row naming the columns."""
    for index, row in enumerate(rows[:30]):
        cells = [_cell(c).lower() for c in row]
        question = next((i for i, c in enumerate(cells) if c.startswith("question")), None)
        answers = [i for i, c in enumerate(cells) if re.match(r"^answer\s*\d", c)]
        if question is None or len(answers) < 2:
            continue
        time = next((i for i, c in enumerate(cells) if c.startswith("time")), None)
        correct = next((i for i, c in enumerate(cells) if c.startswith("correct")), None)
        return index, _Columns(question, answers, time, correct)
    return None


def _read_table(rows: list[list[Any]], result: Imported) -> None:
    found = _header(rows)
    if found is not None:
        start, cols = found[0] + 1, found[1]
    else:
        # No header: question, four answers, time limit, correct number; a leading number
        # column (as in Kahoot's template) is stepped over.
        first = next((r for r in rows if any(_cell(c) for c in r)), [])
        offset = 1 if len(first) > 1 and re.fullmatch(r"\d+", _cell(first[0])) and _cell(first[1]) else 0
        start, cols = 0, _Columns(offset, [offset + i for i in range(1, 5)], offset + 5, offset + 6)
    for line, row in enumerate(rows[start:], start=start + 1):

        def get(i: int | None, row: list[Any] = row) -> str:
            return _cell(row[i]) if i is not None and i < len(row) else ""

        text = get(cols.question)
        if not text:
            continue
        raw_answers = [get(i) for i in cols.answers]
        correct_raw = get(cols.correct)
        numbers = [int(n) for n in re.findall(r"\d+", correct_raw)]
        if len(numbers) != 1:
            if not numbers and correct_raw:
                raise QuizFileError("bad_row", "the correct answer must be a number (1-4)", line)
            result.skipped += 1  # no correct answer, or several: not a single-choice question
            continue
        chosen = numbers[0] - 1
        if not 0 <= chosen < len(raw_answers) or not raw_answers[chosen]:
            raise QuizFileError("bad_row", f"answer {numbers[0]} is marked correct but is empty", line)
        options = [a for a in raw_answers if a]
        correct = sum(1 for a in raw_answers[:chosen] if a)
        result.add(text, options, correct, _time_limit(get(cols.time)))


def _time_limit(raw: str) -> int:
    try:
        seconds = int(float(raw))
    except ValueError:
        return DEFAULT_TIME_LIMIT
    return max(MIN_TIME_LIMIT, min(MAX_TIME_LIMIT, seconds))


# ---------- GIFT ----------

_GIFT_SPECIAL = re.compile(r"\\([~=#{}:n\\])")


def _looks_like_gift(text: str) -> bool:
    return bool(re.search(r"(?<!\\)\{[^{}]*(?<!\\)\}", text))


def _gift_unescape(value: str) -> str:
    return _GIFT_SPECIAL.sub(lambda m: "\n" if m[1] == "n" else m[1], value).strip()


def _split_unescaped(body: str, marks: str) -> list[tuple[str, str]]:
    """Split an answer block at unescaped `=`/`~` into (mark, text) pairs."""
    parts: list[tuple[str, str]] = []
    mark, current, i = "", "", 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            current += body[i : i + 2]
            i += 2
            continue
        if ch in marks:
            if mark:
                parts.append((mark, current))
            mark, current = ch, ""
        else:
            current += ch
        i += 1
    if mark:
        parts.append((mark, current))
    return parts


def _strip_feedback(answer: str) -> str:
    answer = re.split(r"(?<!\\)#", answer, maxsplit=1)[0]
    return re.sub(r"^%-?\d+(?:\.\d+)?%", "", answer.strip())


def _read_gift(text: str, result: Imported) -> None:
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("//")]
    blocks = re.split(r"\n\s*\n", "\n".join(lines))
    for block in blocks:
        block = block.strip()
        if not block or block.startswith("$CATEGORY"):
            continue
        block = re.sub(r"^::(?:[^:]|\\:)*::", "", block).strip()
        match = re.search(r"(?<!\\)\{(.*?)(?<!\\)\}", block, re.DOTALL)
        if match is None:
            result.skipped += 1
            continue
        before, after = block[: match.start()], block[match.end() :]
        stem = re.sub(r"^\[(?:html|moodle|plain|markdown)\]", "", before.strip())
        question = _gift_unescape(stem + (" _____ " + after.strip() if after.strip() else ""))
        body = match[1].strip()
        if re.fullmatch(r"(?i)T(RUE)?|F(ALSE)?", _strip_feedback(body)):
            result.add(question, ["True", "False"], 0 if body[:1].upper() == "T" else 1)
            continue
        if body.startswith("#") or "->" in body:
            result.skipped += 1  # numeric or matching question
            continue
        answers = _split_unescaped(body, "=~")
        options = [_gift_unescape(_strip_feedback(a)) for _, a in answers]
        right = [i for i, (mark, a) in enumerate(answers) if mark == "=" or a.strip().startswith("%100%")]
        if len(right) != 1 or len(options) < 2 or not all(options):
            result.skipped += 1  # short answer, several correct, or an empty option
            continue
        result.add(question, options, right[0])


# ---------- Aiken ----------

_AIKEN_OPTION = re.compile(r"^([A-Z])[.)]\s+(.*)$")
_AIKEN_ANSWER = re.compile(r"^ANSWER\s*:\s*([A-Z])\s*$")


def _read_aiken(text: str, result: Imported) -> None:
    stem: list[str] = []
    options: list[tuple[str, str]] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        answer = _AIKEN_ANSWER.match(line)
        option = _AIKEN_OPTION.match(line)
        if answer:
            letters = [letter for letter, _ in options]
            if not stem or len(options) < 2 or answer[1] not in letters:
                raise QuizFileError("bad_row", "an ANSWER line must follow a question and its options", line_no)
            result.add(" ".join(stem), [o for _, o in options], letters.index(answer[1]))
            stem, options = [], []
        elif option and stem:
            options.append((option[1], option[2].strip()))
        elif options:
            raise QuizFileError("bad_row", "a question's options must end with an ANSWER line", line_no)
        else:
            stem.append(line)
