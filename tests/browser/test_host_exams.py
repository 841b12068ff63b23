"""The host page with an account, in real Chromium: the quiz editor saves to the account as an
exam (created once, then edited), says which exam it edits, opens "my exams" back, shows the
exam API's refusals next to the fields in the page's language; the exams panel lists "my exams"
and a search, hosts a live game from one into the lobby, and says why a paid, proctored or
inactive exam cannot be played by a group — in English, Russian and Uzbek.

A server of its own (its SQLite database); users are written straight into it with a browser
session (signing up is tests/browser/test_accounts.py's), and exams a test only needs to exist
are made through the API before the page opens."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.signed_in import SignedInSite, server_database
from tests.browser.support import screenshot
from tests.sql_support import SqlTarget
from tests.support import ServerProcess, start_server

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

QUESTION = {"type": "select_one", "text": "2 + 2?", "options": ["4", "5"], "correct": 0}


@pytest.fixture(scope="module")
def exams_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[ServerProcess, SqlTarget]]:
    data_dir = tmp_path_factory.mktemp("host-exams-web")
    server = start_server(data_dir, redis_url)
    yield server, server_database(data_dir)
    server.stop()


@pytest.fixture
def site(browser: Any, exams_server: tuple[ServerProcess, SqlTarget]) -> Iterator[SignedInSite]:
    made = SignedInSite(browser, *exams_server, prefix="teacher")
    yield made
    made.pages.close()


@pytest.fixture(scope="module")
def teacher_site(browser: Any, exams_server: tuple[ServerProcess, SqlTarget]) -> Iterator[SignedInSite]:
    """One account and one browser tab, for the tests that look only at exams they made
    themselves and leave nothing behind in the tab (no game hosted, no draft kept)."""
    made = SignedInSite(browser, *exams_server, prefix="teacher")
    yield made
    made.pages.close()


@pytest.fixture(scope="module")
def teacher(teacher_site: SignedInSite) -> dict[str, Any]:
    return teacher_site.user()


def host_page(site: SignedInSite, user: dict[str, Any], lang: str = "en") -> Any:
    """The host page, signed in as `user` by the session cookie."""
    page = site.open_as(f"/host?lang={lang}", user, name=user["username"])
    expect(page.get_by_test_id("account-link")).to_have_text(f"@{user['username']}")
    return page


def teacher_tab(site: SignedInSite, user: dict[str, Any], lang: str) -> Any:
    """The host page in the teacher's one tab, loaded afresh; what the tab saw before is
    forgotten, so `site.pages.problems()` is this test's."""
    if not site.pages.contexts:
        return host_page(site, user, lang)
    for watch in site.pages.watches:
        watch.dialogs.clear()
        watch.errors.clear()
        watch.console.clear()
    page = site.pages.contexts[0].pages[0]
    page.goto(f"{site.server.base_url}/host?lang={lang}")
    expect(page.get_by_test_id("account-link")).to_have_text(f"@{user['username']}")
    return page


def made_exam(site: SignedInSite, user: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = site.api("POST", "/api/exams", user, body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def call(page: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The API as this browser's session (its cookie, and the CSRF token it keeps)."""
    csrf = page.evaluate("localStorage.getItem('lq_csrf')")
    response = page.request.fetch(page.url.split("/host")[0] + path, method=method,
                                  headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
                                  data=None if body is None else json.dumps(body))
    text = response.text()
    return response.status, json.loads(text) if text else None


def fill_question(page: Any, n: int, text: str, options: list[str], correct: int | None, seconds: int) -> None:
    page.get_by_test_id(f"question-text-{n}").fill(text)
    for m, option in enumerate(options):
        page.get_by_test_id(f"option-{n}-{m}").fill(option)
    if correct is not None:
        page.get_by_test_id(f"correct-{n}-{correct}").check()
    page.get_by_test_id(f"time-limit-{n}").fill(str(seconds))


def test_the_editor_saves_an_exam_edits_it_reopens_it_and_hosts_it(site: SignedInSite) -> None:
    host = host_page(site, site.user())
    expect(host.get_by_test_id("editor-exam")).to_have_text("A new exam: Save puts it in your account.")
    host.get_by_test_id("editor-new").click()
    host.get_by_test_id("editor-title").fill("Planets")
    fill_question(host, 0, "Largest planet?", ["Mars", "Jupiter", "", "Venus"], 1, 25)
    host.get_by_test_id("editor-add-question").click()
    fill_question(host, 1, "Closest to the Sun?", ["Mercury", "Earth"], 0, 10)
    with host.expect_request(lambda r: r.url.endswith("/api/exams") and r.method == "POST"):
        host.get_by_test_id("editor-save").click()
    expect(host.get_by_test_id("editor-note")).to_have_text("Saved “Planets” to your account.")

    status, mine = call(host, "GET", "/api/exams?mine=1")
    assert status == 200 and [item["title"] for item in mine["items"]] == ["Planets"], mine
    exam_id = mine["items"][0]["id"]
    expect(host.get_by_test_id("editor-exam")).to_contain_text(f"Editing exam #{exam_id} “Planets”")
    status, exam = call(host, "GET", f"/api/exams/{exam_id}")
    assert status == 200
    assert [{k: q[k] for k in ("type", "text", "options", "correct", "time_limit")} for q in exam["questions"]] == [
        {"type": "select_one", "text": "Largest planet?", "options": ["Mars", "Jupiter", "Venus"], "correct": 1,
         "time_limit": 25},
        {"type": "select_one", "text": "Closest to the Sun?", "options": ["Mercury", "Earth"], "correct": 0,
         "time_limit": 10},
    ]

    # A later save edits the same exam.
    host.get_by_test_id("editor-title").fill("Planets, week 3")
    host.get_by_test_id("correct-0-3").check()
    with host.expect_request(lambda r: r.url.endswith(f"/api/exams/{exam_id}") and r.method == "PATCH"):
        host.get_by_test_id("editor-save").click()
    expect(host.get_by_test_id("editor-note")).to_have_text("Saved “Planets, week 3” to your account.")
    status, mine = call(host, "GET", "/api/exams?mine=1")
    assert [(item["id"], item["title"]) for item in mine["items"]] == [(exam_id, "Planets, week 3")]
    status, exam = call(host, "GET", f"/api/exams/{exam_id}")
    assert exam["questions"][0]["correct"] == 2  # "Venus", once the empty option is left out

    # A blank quiz, a reload, then the exam back from "my exams" in the editor's list.
    host.get_by_test_id("editor-new").click()
    host.reload()
    saved = host.get_by_test_id("editor-saved")
    expect(saved.locator("option").first).to_have_text("My exams (1)")
    saved.select_option(value=f"exam:{exam_id}")
    expect(host.get_by_test_id("editor-title")).to_have_value("Planets, week 3")
    expect(host.get_by_test_id("question-text-1")).to_have_value("Closest to the Sun?")
    expect(host.get_by_test_id("correct-0-2")).to_be_checked()
    expect(host.get_by_test_id("time-limit-0")).to_have_value("25")
    expect(host.get_by_test_id("editor-exam")).to_contain_text(f"Editing exam #{exam_id}")

    # The exams panel: "my exams", opened into the editor from there too, then hosted live.
    item = host.get_by_test_id("exams-list").locator(f"[data-exam-id='{exam_id}']")
    expect(item).to_contain_text("Planets, week 3")
    expect(item).to_contain_text("Questions: 2")
    host.get_by_test_id("editor-new").click()
    host.get_by_test_id(f"exams-edit-{exam_id}").click()
    expect(host.get_by_test_id("editor-title")).to_have_value("Planets, week 3")
    screenshot(host, "host-exams-editor", full_page=True)
    with host.expect_response(lambda r: r.url.endswith(f"/api/exams/{exam_id}/games")) as info:
        host.get_by_test_id(f"exams-host-{exam_id}").click()
    game = info.value.json()
    assert info.value.status == 201 and game["question_count"] == 2
    expect(host.get_by_test_id("pin")).to_have_text(game["pin"])
    expect(host.get_by_test_id("game-title")).to_have_text("Planets, week 3")
    screenshot(host, "host-exams-lobby")
    status, live = call(host, "GET", f"/api/games/{game['pin']}")
    assert status == 200 and live["question_count"] == 2, live
    assert not site.pages.problems(), site.pages.problems()


def test_the_exam_apis_refusals_stand_next_to_the_fields_in_russian(site: SignedInSite) -> None:
    host = host_page(site, site.user(), "ru")
    host.get_by_test_id("editor-new").click()
    host.get_by_test_id("editor-title").fill("Столицы")
    fill_question(host, 0, "Столица Франции?", ["Париж", "Лион"], None, 20)  # no correct answer
    host.get_by_test_id("editor-add-question").click()
    fill_question(host, 1, "Столица Италии?", ["Рим", "рим"], 0, 20)  # the same option twice
    host.get_by_test_id("editor-save").click()
    expect(host.get_by_test_id("error-correct-0")).to_have_text("Отметьте верный ответ (он не должен быть пустым).")
    expect(host.get_by_test_id("error-options-1")).to_have_text("Два ответа совпадают: сделайте все ответы разными.")
    expect(host.get_by_test_id("error-title")).to_be_hidden()
    expect(host.get_by_test_id("editor-note")).to_have_text("Исправьте отмеченные поля и сохраните снова.")
    assert "Input should" not in host.locator("#editor").inner_text()
    screenshot(host, "host-exams-save-errors-ru", full_page=True)
    status, mine = call(host, "GET", "/api/exams?mine=1")
    assert status == 200 and mine["items"] == []  # nothing saved

    host.get_by_test_id("correct-0-0").check()
    host.get_by_test_id("option-1-1").fill("Милан")
    host.get_by_test_id("editor-save").click()
    expect(host.get_by_test_id("editor-note")).to_have_text("«Столицы» сохранён в вашем аккаунте.")
    expect(host.get_by_test_id("error-correct-0")).to_be_hidden()
    status, mine = call(host, "GET", "/api/exams?mine=1")
    assert [item["title"] for item in mine["items"]] == ["Столицы"]
    assert not site.pages.problems(), site.pages.problems()


REFUSALS = [
    ("en", {"price": 5000}, "A paid exam cannot be played as a group game."),
    ("uz", {"price": 5000}, "Pullik imtihonni guruh o'yini sifatida o'tkazib bo'lmaydi."),
    ("ru", {"proctoring": {"fullscreen": True, "camera": False}},
     "Экзамен с прокторингом нельзя провести как групповую игру."),
    ("en", {"active": False}, "This exam is not active."),
]


@pytest.mark.parametrize(("lang", "settings", "message"), REFUSALS)
def test_an_exam_a_group_may_not_play_is_refused_in_the_pages_language(
    teacher_site: SignedInSite, teacher: dict[str, Any], lang: str, settings: dict[str, Any], message: str,
) -> None:
    exam = made_exam(teacher_site, teacher,
                     {"title": f"Exam {secrets.token_hex(3)}", "questions": [QUESTION], **settings})
    host = teacher_tab(teacher_site, teacher, lang)
    item = host.get_by_test_id("exams-list").locator(f"[data-exam-id='{exam['id']}']")
    expect(item).to_be_visible()  # "my exams", shown first when signed in
    host.get_by_test_id(f"exams-host-{exam['id']}").click()
    expect(host.get_by_test_id("exams-error")).to_have_text(message)
    expect(host.locator("#screen-setup")).to_be_visible()
    expect(host.get_by_test_id("pin")).to_be_hidden()
    screenshot(host, f"host-exams-refused-{lang}-{'-'.join(settings)}")
    assert not teacher_site.pages.problems(), teacher_site.pages.problems()


def test_a_visitor_searches_exams_keeps_quizzes_in_the_browser_and_is_asked_to_sign_in(
    site: SignedInSite, teacher: dict[str, Any],
) -> None:
    title = f"Rivers {secrets.token_hex(3)}"
    question = {"type": "select_one", "text": "Longest river?", "options": ["Nile", "Volga"], "correct": 0}
    exam = made_exam(site, teacher, {"title": title, "questions": [question]})

    visitor = site.open("/host?lang=en", name="visitor")
    expect(visitor.get_by_test_id("editor-exam")).to_have_text("Sign in to keep quizzes as exams in your account.")
    expect(visitor.get_by_test_id("exams-mine")).to_be_hidden()
    visitor.get_by_test_id("exams-search").fill(title)
    visitor.get_by_test_id("exams-search-go").click()
    expect(visitor.get_by_test_id("exams-item")).to_have_count(1)
    expect(visitor.get_by_test_id(f"exams-edit-{exam['id']}")).to_have_count(0)  # not theirs
    visitor.get_by_test_id(f"exams-host-{exam['id']}").click()
    expect(visitor.get_by_test_id("exams-error")).to_have_text("Sign in first (Sign in, at the top).")
    screenshot(visitor, "host-exams-signed-out")

    visitor.get_by_test_id("editor-title").fill("Local quiz")
    fill_question(visitor, 0, "1 + 1?", ["2", "3"], 0, 20)
    visitor.get_by_test_id("editor-save").click()
    expect(visitor.get_by_test_id("editor-note")).to_have_text("Saved “Local quiz” in this browser.")
    stored = visitor.evaluate("JSON.parse(localStorage.getItem('livequiz.editor.quizzes'))")
    assert [quiz["title"] for quiz in stored.values()] == ["Local quiz"]
    assert not site.pages.problems(), site.pages.problems()


def test_an_exam_with_questions_the_editor_cannot_show_is_not_opened_into_it(
    site: SignedInSite, teacher: dict[str, Any],
) -> None:
    questions = [
        QUESTION,
        {"type": "select_many", "text": "Even numbers?", "options": ["2", "3", "4"], "correct": [0, 2]},
    ]
    exam = made_exam(site, teacher, {"title": "Mixed", "questions": questions})
    host = host_page(site, teacher)
    host.get_by_test_id("editor-new").click()
    host.get_by_test_id("editor-title").fill("My draft")
    host.get_by_test_id(f"exams-edit-{exam['id']}").click()
    expect(host.get_by_test_id("editor-note")).to_contain_text("questions the quiz editor cannot show")
    expect(host.get_by_test_id("editor-title")).to_have_value("My draft")  # the draft is not replaced
    # A PATCH from the editor would have dropped the select_many question: none was sent.
    status, kept = call(host, "GET", f"/api/exams/{exam['id']}")
    assert status == 200 and [q["type"] for q in kept["questions"]] == ["select_one", "select_many"], kept
    # It still plays as a group game: its one select_one question.
    with host.expect_response(lambda r: r.url.endswith(f"/api/exams/{exam['id']}/games")) as info:
        host.get_by_test_id(f"exams-host-{exam['id']}").click()
    assert info.value.json()["question_count"] == 1
    expect(host.get_by_test_id("pin")).to_have_text(info.value.json()["pin"])
    assert not site.pages.problems(), site.pages.problems()


def test_my_exams_page_on_and_a_refusal_is_said_again_in_a_newly_chosen_language(site: SignedInSite) -> None:
    owner = site.user()
    paid = made_exam(site, owner, {"title": "Oldest, paid", "questions": [QUESTION], "price": 100})
    for n in range(50):
        made_exam(site, owner, {"title": f"Exam {n}", "questions": [QUESTION]})
    host = host_page(site, owner)
    items = host.get_by_test_id("exams-item")
    expect(items).to_have_count(50)  # a page, newest first
    expect(host.get_by_test_id(f"exams-host-{paid['id']}")).to_have_count(0)
    host.get_by_test_id("exams-more").click()
    expect(items).to_have_count(51)
    expect(host.get_by_test_id("exams-more")).to_have_count(0)  # the last page

    host.get_by_test_id(f"exams-host-{paid['id']}").click()
    expect(host.get_by_test_id("exams-error")).to_have_text("A paid exam cannot be played as a group game.")
    host.get_by_test_id("lang").select_option("ru")
    expect(host.get_by_test_id("exams-error")).to_have_text("Платный экзамен нельзя провести как групповую игру.")
    expect(host.get_by_test_id(f"exams-host-{paid['id']}")).to_have_text("Провести игру")
    assert not site.pages.problems(), site.pages.problems()
