"""The quiz editor on the host page, in real Chromium: a teacher writes a quiz without JSON,
keeps it in the browser, sees the server's refusals next to the fields in the page's language,
imports a Kahoot spreadsheet and exports the quiz back out."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.browser.support import Pages, WebServer, http_json, screenshot

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def fill_question(page: Any, n: int, text: str, options: list[str], correct: int | None, seconds: int) -> None:
    page.get_by_test_id(f"question-text-{n}").fill(text)
    for m, option in enumerate(options):
        page.get_by_test_id(f"option-{n}-{m}").fill(option)
    if correct is not None:
        page.get_by_test_id(f"correct-{n}-{correct}").check()
    page.get_by_test_id(f"time-limit-{n}").fill(str(seconds))


def test_a_teacher_writes_saves_reopens_and_starts_a_quiz(pages: Pages, web_server: WebServer) -> None:
    host = pages.open("/host?lang=en", name="teacher")
    host.get_by_test_id("editor-title").fill("Fractions, week 2")
    expect(host.get_by_test_id("editor-lead-in")).to_have_value("4")  # the editor's default
    fill_question(host, 0, "1/2 + 1/4 = ?", ["3/4", "2/6", "1/8", ""], 0, 25)
    host.get_by_test_id("editor-add-question").click()
    expect(host.get_by_test_id("question-text-1")).to_be_focused()
    fill_question(host, 1, "Which is bigger?", ["2/3", "3/5"], 0, 15)
    host.get_by_test_id("add-option-1").click()
    host.get_by_test_id("option-1-2").fill("They are equal")
    host.get_by_test_id("correct-1-2").check()
    host.get_by_test_id("editor-save").click()
    expect(host.get_by_test_id("editor-note")).to_contain_text("Saved “Fractions, week 2”")

    # A new blank quiz, then the saved one back from the browser's storage after a reload.
    host.get_by_test_id("editor-new").click()
    expect(host.get_by_test_id("editor-title")).to_have_value("")
    host.reload()
    saved = host.get_by_test_id("editor-saved")
    expect(saved.locator("option")).to_have_count(2)
    saved.select_option(label="Fractions, week 2")
    expect(host.get_by_test_id("question-text-1")).to_have_value("Which is bigger?")
    expect(host.get_by_test_id("correct-1-2")).to_be_checked()
    expect(host.get_by_test_id("time-limit-0")).to_have_value("25")
    screenshot(host, "classroom-editor", full_page=True)

    with host.expect_request(lambda r: r.url.endswith("/api/games") and r.method == "POST") as sent:
        host.get_by_test_id("editor-start").click()
    body = json.loads(sent.value.post_data or "{}")
    assert body["settings"] == {"lead_in_s": 4}
    assert body["questions"][0] == {
        "type": "select_one", "text": "1/2 + 1/4 = ?", "options": ["3/4", "2/6", "1/8"], "correct": 0, "time_limit": 25,
    }
    assert body["questions"][1]["correct"] == 2
    expect(host.get_by_test_id("pin")).to_have_text(re.compile(r"^\d{6}$"))
    pin = host.get_by_test_id("pin").inner_text()
    status, game = http_json("GET", f"{web_server.base_url}/api/games/{pin}")
    assert status == 200 and game["title"] == "Fractions, week 2" and game["question_count"] == 2
    # The editor's fields are gone while the game runs: only the game's options carry option-N.
    expect(host.locator("[data-testid^=option-]")).to_have_count(0)
    assert not pages.problems(), pages.problems()


def test_refusals_stand_next_to_their_fields_in_the_pages_language(pages: Pages) -> None:
    host = pages.open("/host?lang=ru", name="teacher-ru")
    host.get_by_test_id("editor-new").click()
    host.get_by_test_id("editor-title").fill("Викторина")
    fill_question(host, 0, "Столица Франции?", ["Париж", "Лион"], None, 3)  # no correct answer, 3 s
    host.get_by_test_id("editor-add-question").click()
    fill_question(host, 1, "Хороший вопрос", ["да", "нет"], 1, 20)
    host.get_by_test_id("editor-add-question").click()
    fill_question(host, 2, " ", ["один", ""], 0, 20)  # blank text, one option
    host.get_by_test_id("editor-start").click()

    expect(host.get_by_test_id("error-correct-0")).to_have_text("Отметьте верный ответ (он не должен быть пустым).")
    expect(host.get_by_test_id("error-time-0")).to_have_text("Время на ответ — от 5 до 120 секунд.")
    expect(host.get_by_test_id("time-limit-0")).to_have_attribute("aria-invalid", "true")
    expect(host.get_by_test_id("error-text-2")).to_be_visible()
    expect(host.get_by_test_id("error-options-2")).to_have_text("Нужно от 2 до 6 ответов, каждый 1–150 символов.")
    for ok in ("error-text-1", "error-options-1", "error-correct-1", "error-time-1", "error-title"):
        expect(host.get_by_test_id(ok)).to_be_hidden()
    expect(host.get_by_test_id("editor-note")).to_have_text("Исправьте отмеченные поля и снова создайте игру.")
    text = host.locator("#editor").inner_text()
    assert "Input should" not in text and "questions.0" not in text, text
    screenshot(host, "classroom-editor-errors-ru", full_page=True)

    # Fixed: the marks go and the game starts.
    host.get_by_test_id("correct-0-0").check()
    host.get_by_test_id("time-limit-0").fill("30")
    host.get_by_test_id("remove-question-2").click()
    host.get_by_test_id("editor-start").click()
    expect(host.get_by_test_id("pin")).to_have_text(re.compile(r"^\d{6}$"))
    assert not pages.problems(), pages.problems()


def kahoot_xlsx() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Quiz template"])
    sheet.append([])
    sheet.append(["", "Question - max 120 characters", "Answer 1 - max 75 characters", "Answer 2 - max 75 characters",
                  "Answer 3 - max 75 characters", "Answer 4 - max 75 characters", "Time limit (sec)",
                  "Correct answer(s) - choose at least one"])
    sheet.append([1, "Largest ocean?", "Atlantic", "Pacific", "Indian", "Arctic", 30, 2])
    sheet.append([2, "H2O is…", "water", "salt", None, None, 10, 1])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_import_a_kahoot_spreadsheet_then_export_gift_and_xlsx(pages: Pages) -> None:
    host = pages.open("/host?lang=en", name="importer")
    host.get_by_test_id("editor-import").set_input_files(
        files=[{"name": "Oceans.xlsx", "mimeType": "application/octet-stream", "buffer": kahoot_xlsx()}]
    )
    expect(host.get_by_test_id("editor-note")).to_have_text("Imported 2 questions from Oceans.xlsx (skipped: 0).")
    expect(host.get_by_test_id("editor-title")).to_have_value("Oceans")
    expect(host.get_by_test_id("question-text-0")).to_have_value("Largest ocean?")
    expect(host.get_by_test_id("option-0-3")).to_have_value("Arctic")
    expect(host.get_by_test_id("correct-0-1")).to_be_checked()
    expect(host.get_by_test_id("time-limit-1")).to_have_value("10")

    host.get_by_test_id("editor-export-format").select_option("gift")
    with host.expect_download() as gift:
        host.get_by_test_id("editor-export").click()
    text = gift.value.path().read_text(encoding="utf-8")
    assert "::Q1:: Largest ocean? {\n~Atlantic\n=Pacific\n~Indian\n~Arctic\n}" in text

    host.get_by_test_id("editor-export-format").select_option("xlsx")
    with host.expect_download() as xlsx:
        host.get_by_test_id("editor-export").click()
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.value.path().read_bytes())).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[1][:7] == ["Largest ocean?", "Atlantic", "Pacific", "Indian", "Arctic", 30, 2]

    # Something that is no quiz: a clear message, the editor keeps what it had.
    host.get_by_test_id("editor-import").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"Dear diary, no quiz here."}]
    )
    expect(host.get_by_test_id("editor-note")).to_have_text("notes.txt: use .xlsx, .csv, GIFT or Aiken (.txt).")
    expect(host.get_by_test_id("question-text-0")).to_have_value("Largest ocean?")
    assert not pages.problems(), pages.problems()
