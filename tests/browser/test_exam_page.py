"""The exam page in real Chromium: take an exam question by question (every type, the timer,
the result), leave fullscreen on a fullscreen exam (the attempt ends with 0), a camera exam's
snapshot counted on the server, and the page in Russian and Uzbek.

A server of its own (its SQLite database); users are written straight into it with a browser
session (cookie + the CSRF token login would have stored)."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.signed_in import SignedInSite, server_database
from tests.browser.support import screenshot, wait_until
from tests.persistence.exam_bodies import portrait_jpegs
from tests.sql_support import SqlTarget
from tests.support import ServerProcess, start_server

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

EXAM = {
    "title": "Geography check",
    "description": "Four questions, one of each kind.",
    "time_limit_s": 600,
    "pass_percent": 75,
    "questions": [
        {
            "type": "select_one",
            "text": "Capital of Uzbekistan?",
            "options": ["Samarkand", "Tashkent", "Khiva"],
            "correct": 1,
        },
        {
            "type": "select_many",
            "text": "Which are rivers?",
            "options": ["Amu Darya", "Aral", "Syr Darya"],
            "correct": [0, 2],
        },
        {"type": "text", "text": "Capital of France?", "accepted": ["Paris"]},
        {"type": "free", "text": "Describe your town."},
    ],
}


@pytest.fixture(scope="module")
def exam_site(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[ServerProcess, SqlTarget]]:
    data_dir = tmp_path_factory.mktemp("exam-web")
    server = start_server(data_dir, redis_url)
    yield server, server_database(data_dir)
    server.stop()


class Site(SignedInSite):
    """The exam site: users, and exams made through the API."""

    def exam(self, owner: dict[str, Any], **settings: Any) -> int:
        response = self.api("POST", "/api/exams", owner, EXAM | settings)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


@pytest.fixture
def site(browser: Any, exam_site: tuple[ServerProcess, SqlTarget]) -> Iterator[Site]:
    made = Site(browser, *exam_site, prefix="exam_user")
    yield made
    made.pages.close()


def test_take_an_exam_question_by_question(site: Site, tmp_path: Path) -> None:
    owner, taker = site.user(), site.user()
    exam_id = site.exam(owner)
    page = site.open_signed_in(f"/exam?id={exam_id}&lang=en", taker, "taker")
    expect(page.get_by_test_id("exam-title")).to_have_text("Geography check")
    expect(page.get_by_test_id("exam-facts")).to_contain_text("4 questions")
    expect(page.get_by_test_id("exam-facts")).to_contain_text("Time limit: 10 min")
    page.get_by_test_id("exam-start").click()

    expect(page.get_by_test_id("exam-progress")).to_have_text("Question 1 of 4")
    expect(page.get_by_test_id("timer")).to_have_text("9:59", timeout=3000)
    expect(page.get_by_test_id("question-text")).to_have_text("Capital of Uzbekistan?")
    page.get_by_test_id("option-1").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("next").click()

    expect(page.get_by_test_id("question-hint")).to_have_text("Choose every right answer.")
    page.get_by_test_id("option-0").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("option-2").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("next").click()

    page.get_by_test_id("text-answer").fill("  paris ")
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("next").click()
    page.get_by_test_id("text-answer").fill("Green and sunny.")
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    # Back to question 1: the answer given is still chosen.
    for _ in range(3):
        page.get_by_test_id("prev").click()
    expect(page.get_by_test_id("option-1")).to_be_checked()
    screenshot(page, "exam-question")
    page.get_by_test_id("finish").click()

    expect(page.get_by_test_id("result-score")).to_have_text("4 / 4 (100%)")
    expect(page.get_by_test_id("result-verdict")).to_have_text("Passed")
    expect(page.get_by_test_id("timer")).to_be_hidden()
    screenshot(page, "exam-result")
    attempts = site.api("GET", f"/api/exams/{exam_id}/attempts", owner).json()["items"]
    assert len(attempts) == 1
    seen = site.api("GET", f"/api/attempts/{attempts[0]['id']}", owner).json()
    assert [a["n"] for a in seen["answers"]] == [0, 1, 2, 3]
    assert seen["answers"][1]["options"] == [0, 2] and seen["result"]["ended_by"] == "finish"
    assert not site.pages.problems(), site.pages.problems()


def test_leaving_fullscreen_ends_the_exam_with_zero(site: Site) -> None:
    owner, taker = site.user(), site.user()
    exam_id = site.exam(owner, proctoring={"fullscreen": True})
    page = site.open_signed_in(f"/exam?id={exam_id}&lang=en", taker, "fullscreen")
    expect(page.get_by_test_id("exam-facts")).to_contain_text("leaving fullscreen ends the exam with a score of 0")
    page.get_by_test_id("exam-start").click()
    expect(page.get_by_test_id("exam-progress")).to_have_text("Question 1 of 4")
    wait_until(page, "document.fullscreenElement !== null")
    page.get_by_test_id("option-1").check()  # a right answer: it will not count
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")

    page.evaluate("document.exitFullscreen()")

    expect(page.get_by_test_id("result-score")).to_have_text("0 / 4 (0%)")
    expect(page.get_by_test_id("result-verdict")).to_have_text("Not passed")
    expect(page.get_by_test_id("result-reason")).to_have_text(
        "You left fullscreen, so the exam ended with a score of 0."
    )
    attempts = site.api("GET", f"/api/exams/{exam_id}/attempts", owner).json()["items"]
    assert attempts[0]["result"]["ended_by"] == "fullscreen_exit" and attempts[0]["violations"] == 1
    assert not site.pages.problems(), site.pages.problems()


def camera_stub(jpeg: bytes) -> str:
    """The test machine has no camera: getUserMedia answers a canvas stream showing a portrait."""
    data_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    return f"""
      navigator.mediaDevices.getUserMedia = async () => {{
        const img = new Image();
        img.src = {json.dumps(data_url)};
        await img.decode();
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const ctx = canvas.getContext("2d");
        const draw = () => {{ ctx.drawImage(img, 0, 0); requestAnimationFrame(draw); }};
        draw();
        return canvas.captureStream(10);
      }};
    """


def test_a_camera_exam_sends_a_snapshot_the_server_counts(site: Site) -> None:
    owner, taker = site.user(), site.user()
    exam_id = site.exam(owner, proctoring={"camera": True})
    page = site.open_signed_in(
        f"/exam?id={exam_id}&lang=en", taker, "camera", init_script=camera_stub(portrait_jpegs()["one"])
    )
    page.get_by_test_id("exam-start").click()
    expect(page.get_by_test_id("camera")).to_be_visible()
    page.wait_for_selector("body[data-snapshots='1']")
    attempts = site.api("GET", f"/api/exams/{exam_id}/attempts", owner).json()["items"]
    seen = site.api("GET", f"/api/attempts/{attempts[0]['id']}", owner).json()
    counted = [e for e in seen["proctoring"]["events"] if e["source"] == "server"]
    assert [(e["face_count"], e["violation"]) for e in counted] == [(1, False)]
    assert not site.pages.problems(), site.pages.problems()


@pytest.mark.parametrize(
    ("lang", "start", "progress"),
    [("ru", "Начать экзамен", "Вопрос 1 из 4"), ("uz", "Imtihonni boshlash", "4 tadan 1-savol")],
)
def test_the_page_speaks_russian_and_uzbek(site: Site, lang: str, start: str, progress: str) -> None:
    owner, taker = site.user(), site.user()
    exam_id = site.exam(owner)
    page = site.open_signed_in(f"/exam?id={exam_id}&lang={lang}", taker, lang)
    expect(page.get_by_test_id("exam-start")).to_have_text(start)
    page.get_by_test_id("exam-start").click()
    expect(page.get_by_test_id("exam-progress")).to_have_text(progress)
    assert not site.pages.problems(), site.pages.problems()


def test_signed_out_visitors_are_asked_to_sign_in(site: Site) -> None:
    owner = site.user()
    exam_id = site.exam(owner)
    page = site.open(f"/exam?id={exam_id}&lang=en", name="anonymous")
    page.wait_for_selector("body[data-ready='true']")
    expect(page.get_by_test_id("exam-signin")).to_be_visible()
    expect(page.get_by_test_id("exam-start")).to_be_disabled()
    missing = site.open("/exam?id=987654&lang=en", name="missing")
    expect(missing.get_by_test_id("exam-error")).to_have_text("This exam does not exist.")


def test_start_a_group_quiz_from_an_exam(site: Site) -> None:
    owner, teacher = site.user(), site.user()
    tag = secrets.token_hex(3)
    exam_id = site.exam(owner, title=f"Rivers {tag}")
    site.exam(owner, title=f"Rivers {tag} paid", price=5000)
    page = site.open_signed_in("/exam?lang=en", teacher, "teacher")
    page.get_by_test_id("exam-search").fill(f"rivers {tag}")
    expect(page.get_by_test_id("exam-item")).to_have_count(2)
    paid = page.get_by_test_id("exam-item").filter(has_text="paid")
    paid.get_by_test_id("exam-host").click()
    expect(page.get_by_test_id("exam-error")).to_have_text("A paid exam cannot be played as a group game.")
    free = page.get_by_test_id("exam-item").filter(has_not_text="paid")
    free.get_by_test_id("exam-host").click()

    page.wait_for_url("**/host?pin=*")
    pin_box = page.get_by_test_id("pin")
    expect(pin_box).to_have_text(re.compile(r"^\s*[0-9]{6}\s*$"))
    pin = pin_box.inner_text().strip()
    assert "#token" not in page.url  # the host page drops the token from the address
    live = httpx.get(f"{site.server.base_url}/api/games/{pin}", timeout=10).json()
    # Of the four questions only the select_one one is played.
    assert live["title"] == f"Rivers {tag}" and live["question_count"] == 1
    mine = site.api("GET", "/api/exams?mine=1", owner).json()["items"]
    assert exam_id in [item["id"] for item in mine]
    assert not site.pages.problems(), site.pages.problems()


def test_a_reloaded_page_resumes_the_attempt_in_progress(site: Site) -> None:
    owner, taker = site.user(), site.user()
    exam_id = site.exam(owner)
    page = site.open_signed_in(f"/exam?id={exam_id}&lang=en", taker, "resume")
    page.get_by_test_id("exam-start").click()
    page.get_by_test_id("option-1").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_test_id("exam-start").click()  # 409 attempt_in_progress: the page takes it up again
    expect(page.get_by_test_id("exam-progress")).to_have_text("Question 1 of 4")
    expect(page.get_by_test_id("option-1")).to_be_checked()
    assert len(site.api("GET", f"/api/exams/{exam_id}/attempts", owner).json()["items"]) == 1
    assert not site.pages.problems(), site.pages.problems()


def test_import_a_file_as_an_exam_activate_it_and_take_it(site: Site, tmp_path: Path) -> None:
    owner = site.user()
    aiken = tmp_path / "Capitals.aiken"
    aiken.write_text("Capital of Uzbekistan?\nA. Samarkand\nB. Tashkent\nANSWER: B\n", encoding="utf-8")
    page = site.open_signed_in("/exam?lang=en", owner, "importer")
    page.get_by_test_id("exam-import").set_input_files(str(aiken))
    page.wait_for_url("**/exam?id=*")
    page.wait_for_selector("body[data-ready='true']")
    expect(page.get_by_test_id("exam-title")).to_have_text("Capitals")
    expect(page.get_by_test_id("exam-inactive")).to_be_visible()
    expect(page.get_by_test_id("exam-start")).to_be_disabled()
    page.get_by_test_id("exam-activate").click()
    expect(page.get_by_test_id("exam-inactive")).to_be_hidden()
    page.get_by_test_id("exam-start").click()
    page.get_by_test_id("option-1").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("finish").click()
    expect(page.get_by_test_id("result-score")).to_have_text("1 / 1 (100%)")
    assert not site.pages.problems(), site.pages.problems()
