"""Quiz files in and out: Kahoot's spreadsheet layout (.xlsx, .csv), GIFT and Aiken.

Each format is read from text written the way teachers' tools write it, and every export
reads back to the same quiz. Bounds (file size, a zip bomb) and broken rows are refused with
a stable code and the line.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import openpyxl
import pytest

from gameserver.quiz_export import EXPORTERS, to_csv, to_xlsx
from gameserver.quiz_import import MAX_FILE_BYTES, QuizFileError, import_quiz
from gameserver.quizzes import parse_quiz


def kahoot_workbook(rows: list[list[Any]]) -> bytes:
    """A workbook shaped like Kahoot's template: instructions above the header row, a number column."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Quiz template"])
    sheet.append(["Add questions, at least two answer alternatives, time limit and choose correct answers"])
    sheet.append([])
    sheet.append([
        "", "Question - max 120 characters", "Answer 1 - max 75 characters", "Answer 2 - max 75 characters",
        "Answer 3 - max 75 characters", "Answer 4 - max 75 characters",
        "Time limit (sec) – 5, 10, 20, 30, 60, 90, 120, or 240 secs", "Correct answer(s) - choose at least one",
    ])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_kahoot_xlsx_template_reads_questions_answers_time_and_correct_number() -> None:
    data = kahoot_workbook([
        [1, "Capital of France?", "Berlin", "Paris", "Rome", "Madrid", 20, 2],
        [2, "2 + 2 = ?", "3", "4", None, None, 240, "2"],  # Kahoot's 240 s is past our 120
        [3, "Pick the primes", "2", "3", "4", "6", 30, "1,2"],  # several correct: not select_one
    ])
    quiz, skipped = import_quiz(data, "Geography week.xlsx")
    assert quiz["title"] == "Geography week"
    assert skipped == 1
    assert quiz["questions"] == [
        {"type": "select_one", "text": "Capital of France?", "options": ["Berlin", "Paris", "Rome", "Madrid"],
         "correct": 1, "time_limit": 20},
        {"type": "select_one", "text": "2 + 2 = ?", "options": ["3", "4"], "correct": 1, "time_limit": 120},
    ]
    parse_quiz(quiz, max_questions=200)  # the server takes what the import gives


def test_csv_with_semicolons_and_no_header_uses_the_template_column_order() -> None:
    text = "Largest planet?;Mars;Jupiter;Venus;;10;2\nWater boils at (°C)?;90;100;;;;2\n"
    quiz, skipped = import_quiz(text.encode(), "science.csv")
    assert skipped == 0
    assert [q["options"] for q in quiz["questions"]] == [["Mars", "Jupiter", "Venus"], ["90", "100"]]
    assert [q["correct"] for q in quiz["questions"]] == [1, 1]
    assert [q["time_limit"] for q in quiz["questions"]] == [10, 20]  # empty: the default


def test_a_gap_between_answers_keeps_the_correct_number_on_its_answer() -> None:
    text = "Question,Answer 1,Answer 2,Answer 3,Answer 4,Time limit,Correct answer\nQ?,a,,c,d,20,3\n"
    quiz, _ = import_quiz(text.encode(), "gap.csv")
    assert quiz["questions"][0]["options"] == ["a", "c", "d"]
    assert quiz["questions"][0]["correct"] == 1  # answer 3 ("c") is the second option kept


def test_a_correct_number_pointing_at_an_empty_answer_names_its_line() -> None:
    text = "Question,Answer 1,Answer 2,Answer 3,Answer 4,Time limit,Correct answer\nok?,a,b,,,20,1\nbad?,a,b,,,20,4\n"
    with pytest.raises(QuizFileError) as info:
        import_quiz(text.encode(), "bad.csv")
    assert info.value.code == "bad_row"
    assert info.value.line == 3
    assert info.value.details()[0]["loc"] == ["line", 3]


GIFT = r"""// a comment line
$CATEGORY: week 3

::Q1:: What is 2 + 2? {
  ~3 # too few
  =4 # right
  ~5
}

::Q2:: The Sun is a star. {T}

::Q3:: Escapes\: braces \{ and equals \= survive {=yes\~really ~no}

Match these {=a -> 1 =b -> 2}

Short answer only {=Paris =paris}

The capital of Italy is {~Milan =Rome ~Turin}.
"""


def test_gift_multiple_choice_true_false_escapes_and_skips_the_rest() -> None:
    quiz, skipped = import_quiz(GIFT.encode(), "moodle.gift")
    texts = [q["text"] for q in quiz["questions"]]
    assert texts == [
        "What is 2 + 2?",
        "The Sun is a star.",
        "Escapes: braces { and equals = survive",
        "The capital of Italy is _____ .",
    ]
    assert quiz["questions"][0]["options"] == ["3", "4", "5"] and quiz["questions"][0]["correct"] == 1
    assert quiz["questions"][1]["options"] == ["True", "False"] and quiz["questions"][1]["correct"] == 0
    assert quiz["questions"][2]["options"] == ["yes~really", "no"]
    assert quiz["questions"][3]["correct"] == 1
    assert skipped == 2  # matching and short answer


AIKEN = """What is the capital of Uzbekistan?
A. Samarkand
B. Tashkent
C) Bukhara
ANSWER: B

Which is a noble gas?
A. Neon
B. Oxygen
ANSWER: A
"""


def test_aiken_reads_questions_and_the_answer_letter() -> None:
    quiz, skipped = import_quiz(AIKEN.encode(), "chem.txt")
    assert skipped == 0
    assert quiz["questions"][0] == {
        "type": "select_one", "text": "What is the capital of Uzbekistan?",
        "options": ["Samarkand", "Tashkent", "Bukhara"], "correct": 1, "time_limit": 20,
    }
    assert quiz["questions"][1]["correct"] == 0


def test_aiken_answer_letter_without_that_option_names_the_line() -> None:
    with pytest.raises(QuizFileError) as info:
        import_quiz(b"Q?\nA. x\nB. y\nANSWER: D\n", "broken.txt")
    assert (info.value.code, info.value.line) == ("bad_row", 4)


def test_unknown_text_empty_files_and_large_files_are_refused_with_codes() -> None:
    with pytest.raises(QuizFileError) as info:
        import_quiz(b"just some prose without any quiz in it", "notes.txt")
    assert info.value.code == "unsupported_format"
    with pytest.raises(QuizFileError) as info:
        import_quiz(b"Question,Answer 1,Answer 2\n", "empty.csv")
    assert info.value.code == "no_questions"
    with pytest.raises(QuizFileError) as info:
        import_quiz(b"x" * (MAX_FILE_BYTES + 1), "big.csv")
    assert info.value.code == "file_too_large"
    with pytest.raises(QuizFileError) as info:
        import_quiz(b"PK\x03\x04 not really a zip", "broken.xlsx")
    assert info.value.code == "unsupported_format"


def test_a_zip_bomb_is_refused_before_openpyxl_opens_it() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (25 * 1024 * 1024))
    assert len(out.getvalue()) < MAX_FILE_BYTES
    with pytest.raises(QuizFileError) as info:
        import_quiz(out.getvalue(), "bomb.xlsx")
    assert info.value.code == "file_too_large"


SIX_OPTIONS = ["=1+1", "-2", "+3", "@4", "five: {5}", "six ~ = #"]
SOURCE: dict[str, Any] = {
    "title": "Round trip",
    "questions": [
        {"text": "Six options, formula-like text?", "options": SIX_OPTIONS,
         "correct": 4, "time_limit": 45},
        {"text": "Line one\nline two", "options": ["yes", "no"], "correct": 0, "time_limit": 5},
    ],
}


@pytest.mark.parametrize("kind", sorted(EXPORTERS))
def test_every_export_reads_back_to_the_same_questions(kind: str) -> None:
    quiz, _ = parse_quiz(SOURCE, max_questions=200)
    data = EXPORTERS[kind](quiz)
    suffix = {"gift": "gift", "aiken": "txt"}.get(kind, kind)
    back, skipped = import_quiz(data, f"round.{suffix}")
    assert skipped == 0
    got = [(q["text"], q["options"], q["correct"]) for q in back["questions"]]
    second = "Line one line two" if kind == "aiken" else "Line one\nline two"  # Aiken: one line a question
    expected_texts = ["Six options, formula-like text?", second]
    assert got == [
        (expected_texts[0], SIX_OPTIONS, 4),
        (expected_texts[1], ["yes", "no"], 0),
    ]
    if kind in ("xlsx", "csv"):  # the spreadsheet layout carries time limits; GIFT and Aiken do not
        assert [q["time_limit"] for q in back["questions"]] == [45, 5]


def test_exports_never_hand_a_spreadsheet_a_formula() -> None:
    quiz, _ = parse_quiz(SOURCE, max_questions=200)
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(quiz)))
    sheet = book.active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if c.value == "=1+1"]
    assert cells and all(c.data_type == "s" for c in cells)
    assert "'=1+1" in to_csv(quiz).decode("utf-8-sig")
