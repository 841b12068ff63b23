"""IELTS and CEFR pages in real Chromium (PLATFORM.md "IELTS and CEFR").

End to end: a candidate takes an IELTS attempt (Listening and Reading answered, two essays
typed — one reload in the middle loses nothing — a Speaking answer recorded from Chromium's fake
microphone and uploaded, a wrong file refused), finishes and sees Listening and Reading in
bands with Writing and Speaking awaiting; a grader the owner named grades both on /grading
(reading the essay, the audio loading); the candidate then sees the overall band and its CEFR
level appear. A CEFR exam with scheduled speaking is taken and graded in Uzbek and Russian.

A server of its own (its SQLite database); a browser of its own started with the fake media flags (the
shared one has no microphone); users are written into the database with a browser session.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.signed_in import SignedInSite as Site
from tests.browser.signed_in import server_database
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.browser.test_exam_page import camera_stub
from tests.persistence.exam_bodies import portrait_jpegs
from tests.sql_support import SqlTarget
from tests.support import ServerProcess, start_server

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)

MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
ESSAY_1 = "The chart shows that rainfall in Tashkent rises in spring and falls sharply in summer months."
ESSAY_2 = "Some people think cities should ban cars from the centre.\nI agree, because walking is healthier."

IELTS_EXAM: dict[str, Any] = {
    "title": "IELTS mock",
    "kind": "ielts_academic",
    "time_limit_s": 3600,
    "sections": [
        {"skill": "listening", "questions": [
            {"type": "select_one", "text": "Where does she live?", "options": ["Bukhara", "Khiva"], "correct": 0},
            {"type": "select_one", "text": "What time is the train?", "options": ["9:00", "10:00"], "correct": 1},
        ]},
        {"skill": "reading", "questions": [
            {"type": "select_one", "text": "The writer's main point?", "options": ["Trade", "Water"], "correct": 1},
            {"type": "text", "text": "One word for a dry region?", "accepted": ["desert"]},
        ]},
        {"skill": "writing", "questions": [
            {"type": "free", "text": "Task 1: describe the chart."},
            {"type": "free", "text": "Task 2: should cars leave city centres?"},
        ]},
        {"skill": "speaking", "questions": [{"type": "free", "text": "Describe your home town."}]},
    ],
}
ESSAY_N = (4, 5)
SPEAKING_N = 6

CEFR_EXAM: dict[str, Any] = {
    "title": "CEFR check",
    "kind": "cefr",
    "speaking_mode": "scheduled",
    "sections": [
        {"skill": "listening", "questions": [
            {"type": "select_one", "text": "Which city was named?", "options": ["Nukus", "Termez"], "correct": 0},
        ]},
        {"skill": "reading", "questions": [
            {"type": "select_one", "text": "Capital city?", "options": ["Samarkand", "Tashkent"], "correct": 1},
        ]},
        {"skill": "writing", "questions": [{"type": "free", "text": "Write about your family."}]},
        {"skill": "speaking", "questions": [{"type": "free", "text": "Talk about your work."}]},
    ],
}


@pytest.fixture(scope="module")
def ielts_site(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[ServerProcess, SqlTarget]]:
    data_dir = tmp_path_factory.mktemp("ielts-web")
    server = start_server(data_dir, redis_url)
    yield server, server_database(data_dir)
    server.stop()


@pytest.fixture(scope="module")
def media_browser(browser: Any) -> Iterator[Any]:
    """Chromium with a fake microphone and camera that needs no permission prompt."""
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *MEDIA_ARGS])
    yield launched
    launched.close()


@pytest.fixture
def site(media_browser: Any, ielts_site: tuple[ServerProcess, SqlTarget]) -> Iterator[Site]:
    made = Site(media_browser, *ielts_site, prefix="ielts_user")
    yield made
    made.pages.close()


def exam_with_grader(site: Site, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    owner, grader = site.user(), site.user()
    response = site.api("POST", "/api/exams", owner, body | {"title": f"{body['title']} {secrets.token_hex(3)}"})
    assert response.status_code == 201, response.text
    exam_id = int(response.json()["id"])
    named = site.api("POST", f"/api/exams/{exam_id}/graders", owner, {"user_id": grader["id"]})
    assert named.status_code == 201, named.text
    return exam_id, owner, grader


def attempt_of(site: Site, exam_id: int, owner: dict[str, Any]) -> dict[str, Any]:
    items = site.api("GET", f"/api/exams/{exam_id}/attempts", owner).json()["items"]
    assert len(items) == 1, items
    found = site.api("GET", f"/api/attempts/{items[0]['id']}", owner)
    assert found.status_code == 200, found.text
    return dict(found.json())


def wait_until_loaded(audio: Any, timeout_s: float = 15) -> None:
    """An <audio> has its recording's metadata (readyState ≥ 1): the server served a playable file.
    Polled from here: page.wait_for_function's polling evaluates strings, which the CSP forbids."""
    deadline = time.monotonic() + timeout_s
    while (state := audio.evaluate("el => el.readyState")) < 1:
        assert time.monotonic() < deadline, f"audio readyState still {state}"
        time.sleep(0.1)


def band(value: float) -> str:
    return f"{value:.1f}"


@pytest.mark.slow
def test_an_ielts_attempt_end_to_end_graded_on_the_grading_page(site: Site, tmp_path: Path) -> None:
    exam_id, owner, grader = exam_with_grader(site, IELTS_EXAM)
    candidate = site.user()
    page = site.open_signed_in(f"/exam?id={exam_id}&lang=en", candidate, "candidate")
    expect(page.get_by_test_id("exam-facts")).to_contain_text("IELTS Academic")
    page.get_by_test_id("exam-start").click()

    # Listening: one right, one wrong; Reading: both right.
    expect(page.get_by_test_id("section-heading")).to_have_text("Listening")
    page.get_by_test_id("option-0").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("next").click()
    page.get_by_test_id("option-0").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("section-reading").click()
    expect(page.get_by_test_id("section-heading")).to_have_text("Reading")
    expect(page.get_by_test_id("question-text")).to_have_text("The writer's main point?")
    page.get_by_test_id("option-1").check()
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("next").click()
    page.get_by_test_id("text-answer").fill("Desert")
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")

    # Writing: an essay box with a word count, saved as the text answer.
    page.get_by_test_id("section-writing").click()
    expect(page.get_by_test_id("section-heading")).to_have_text("Writing")
    page.get_by_test_id("essay").fill(ESSAY_1)
    expect(page.get_by_test_id("word-count")).to_have_text(f"Words: {len(ESSAY_1.split())}")
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")
    page.get_by_test_id("next").click()
    # The second essay's save never reaches the server (the connection drops); the page is
    # reloaded: the draft it kept is shown again and sent.
    blocked = f"**/answers/{ESSAY_N[1]}"
    page.route(blocked, lambda route: route.abort())
    page.get_by_test_id("essay").fill(ESSAY_2)
    expect(page.get_by_test_id("exam-error")).to_have_text("No connection to the server.")
    page.unroute(blocked)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    assert "attempt=" in page.url
    page.get_by_test_id("exam-start").click()  # takes the attempt up again
    page.get_by_test_id("section-writing").click()
    page.get_by_test_id("next").click()
    expect(page.get_by_test_id("essay")).to_have_value(ESSAY_2)
    expect(page.get_by_test_id("word-count")).to_have_text(f"Words: {len(ESSAY_2.split())}")
    expect(page.get_by_test_id("saved")).to_have_text("Answer saved")

    # Speaking: record from the fake microphone, stop, the upload is played back.
    page.get_by_test_id("section-speaking").click()
    expect(page.get_by_test_id("section-heading")).to_have_text("Speaking")
    page.get_by_test_id("record").click()
    expect(page.get_by_test_id("rec-time")).to_have_text("0:02")
    page.get_by_test_id("stop").click()
    expect(page.get_by_test_id("rec-status")).to_contain_text("Your answer is saved")
    expect(page.get_by_test_id("playback")).to_be_visible()
    wait_until_loaded(page.get_by_test_id("playback"))
    expect(page.get_by_test_id("record")).to_have_text("Record again")
    # A file that is not audio is refused by its content, whatever its name says.
    fake = tmp_path / "answer.webm"
    fake.write_text("not really audio", encoding="utf-8")
    page.get_by_test_id("audio-file").set_input_files(str(fake))
    expect(page.get_by_test_id("rec-error")).to_have_text(
        "This is not an audio file the exam accepts (WebM, Ogg, MP4/M4A, MP3 or WAV).")
    expect(page.get_by_test_id("rec-status")).to_contain_text("Your answer is saved")  # the recording stays
    screenshot(page, "ielts-speaking")

    seen = attempt_of(site, exam_id, owner)
    answers = {a["n"]: a for a in seen["answers"]}
    assert [answers[n]["text"] for n in ESSAY_N] == [ESSAY_1, ESSAY_2]
    assert answers[SPEAKING_N]["audio"] is True and answers[SPEAKING_N]["content_type"].startswith("audio/")
    assert answers[SPEAKING_N]["size"] > 1000

    page.get_by_test_id("finish").click()
    expect(page.get_by_test_id("band-writing")).to_have_text("awaiting grading")
    expect(page.get_by_test_id("band-speaking")).to_have_text("awaiting grading")
    result = attempt_of(site, exam_id, owner)["result"]
    expect(page.get_by_test_id("band-listening")).to_have_text(band(result["bands"]["listening"]))
    expect(page.get_by_test_id("band-reading")).to_have_text(band(result["bands"]["reading"]))
    assert result["bands"]["reading"] > result["bands"]["listening"]  # 2 of 2 against 1 of 2
    expect(page.get_by_test_id("overall-band")).to_have_text(
        "Overall band: shown once Writing and Speaking are graded")
    expect(page.get_by_test_id("result-refresh")).to_be_visible()

    # The grader's queue, the essay, the audio, two bands.
    marking = site.open_signed_in("/grading?lang=en", grader, "grader")
    item = marking.get_by_test_id("grading-item").filter(has_text=IELTS_EXAM["title"])
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("grading-awaiting")).to_have_text("Awaiting: Writing, Speaking")
    item.get_by_test_id("grading-open").click()
    expect(marking.get_by_test_id(f"essay-{ESSAY_N[0]}")).to_have_text(ESSAY_1)
    expect(marking.get_by_test_id(f"essay-{ESSAY_N[1]}")).to_have_text(ESSAY_2)
    wait_until_loaded(marking.get_by_test_id(f"audio-{SPEAKING_N}"))
    marking.get_by_test_id("grade-band-writing").select_option("6.5")
    marking.get_by_test_id("grade-comment-writing").fill("Clear position; develop the second paragraph.")
    marking.get_by_test_id("grade-writing").click()
    expect(marking.get_by_test_id("graded-writing")).to_have_text("Graded: 6.5")

    # Half graded: the candidate sees Writing, the overall still waits.
    page.get_by_test_id("result-refresh").click()
    expect(page.get_by_test_id("band-writing")).to_have_text("6.5")
    expect(page.get_by_test_id("overall-band")).to_have_attribute("data-released", "false")

    marking.get_by_test_id("grade-band-speaking").select_option("7")
    marking.get_by_test_id("grade-speaking").click()
    expect(marking.get_by_test_id("graded-speaking")).to_have_text("Graded: 7.0")
    screenshot(marking, "ielts-grading")
    marking.get_by_test_id("back").click()
    expect(marking.get_by_test_id("grading-item").filter(has_text=IELTS_EXAM["title"])).to_have_count(0)

    # The candidate reloads the result's address: the overall band and its CEFR level.
    page.reload()
    final = attempt_of(site, exam_id, owner)["result"]
    assert final["overall"] is not None and final["cefr"]
    expect(page.get_by_test_id("overall-band")).to_have_text(f"Overall band: {band(final['overall'])}")
    expect(page.get_by_test_id("cefr-level")).to_have_text(f"CEFR level: {final['cefr']}")
    expect(page.get_by_test_id("band-speaking")).to_have_text("7.0")
    expect(page.get_by_test_id("comment-writing")).to_contain_text("Clear position; develop the second paragraph.")
    expect(page.get_by_test_id("result-refresh")).to_be_hidden()
    screenshot(page, "ielts-result")
    assert not site.pages.problems(), site.pages.problems()


@pytest.mark.slow
def test_a_cefr_exam_with_live_speaking_in_uzbek_and_russian(site: Site) -> None:
    owner, grader, candidate = site.user(), site.user(), site.user()
    response = site.api("POST", "/api/exams", owner, CEFR_EXAM | {"title": f"CEFR check {secrets.token_hex(3)}"})
    assert response.status_code == 201, response.text
    exam_id = int(response.json()["id"])
    # The owner names the grader on the grading page (an unknown account is refused).
    owning = site.open_signed_in("/grading?lang=ru", owner, "owner-ru")
    expect(owning.get_by_test_id("graders-none")).to_be_visible()
    owning.get_by_test_id("graders-exam").select_option(str(exam_id))
    owning.get_by_test_id("grader-who").fill("nobody@example.invalid")
    owning.get_by_test_id("grader-add").click()
    expect(owning.get_by_test_id("graders-error")).to_have_text("Нет аккаунта с таким email или номером.")
    owning.get_by_test_id("grader-who").fill(str(grader["id"]))
    owning.get_by_test_id("grader-add").click()
    expect(owning.get_by_test_id("grader")).to_have_count(1)
    expect(owning.get_by_test_id("grader")).to_contain_text(f"(аккаунт {grader['id']})")
    graders = site.api("GET", f"/api/exams/{exam_id}/graders", owner).json()["items"]
    assert [g["user_id"] for g in graders] == [grader["id"]]

    page = site.open_signed_in(f"/exam?id={exam_id}&lang=uz", candidate, "candidate-uz")
    page.get_by_test_id("exam-start").click()
    expect(page.get_by_test_id("section-heading")).to_have_text("Tinglab tushunish")
    page.get_by_test_id("option-1").check()  # wrong
    expect(page.get_by_test_id("saved")).to_have_text("Javob saqlandi")
    page.get_by_test_id("section-reading").click()
    expect(page.get_by_test_id("section-heading")).to_have_text("Oʻqish")
    page.get_by_test_id("option-1").check()
    expect(page.get_by_test_id("saved")).to_have_text("Javob saqlandi")
    page.get_by_test_id("section-writing").click()
    page.get_by_test_id("essay").fill("My family is large and friendly.")
    expect(page.get_by_test_id("word-count")).to_have_text("Soʻzlar: 6")
    page.get_by_test_id("section-speaking").click()
    # Scheduled speaking: no recorder, a way to the booking instead.
    expect(page.get_by_test_id("speaking-scheduled")).to_be_visible()
    expect(page.get_by_test_id("speaking-book")).to_have_attribute("href", f"/speaking?exam={exam_id}")
    expect(page.get_by_test_id("record")).to_have_count(0)
    page.get_by_test_id("section-writing").click()
    expect(page.get_by_test_id("essay")).to_have_value("My family is large and friendly.")
    page.get_by_test_id("finish").click()
    expect(page.get_by_test_id("band-listening")).to_have_text("0%")
    expect(page.get_by_test_id("band-reading")).to_have_text("100%")
    expect(page.get_by_test_id("band-writing")).to_have_text("tekshiruv kutilmoqda")
    expect(page.get_by_test_id("cefr-level")).to_have_text(
        "CEFR darajasi: Yozish va Gapirish tekshirilgach koʻrinadi")

    marking = site.open_signed_in("/grading?lang=ru", grader, "grader-ru")
    item = marking.get_by_test_id("grading-item").filter(has_text=CEFR_EXAM["title"])
    item.get_by_test_id("grading-open").click()
    expect(marking.get_by_test_id("essay-2")).to_have_text("My family is large and friendly.")
    expect(marking.get_by_test_id("no-audio-3")).to_have_text("Прошло в живом звонке: оцените по звонку.")
    marking.get_by_test_id("grade-percent-writing").fill("80")
    marking.get_by_test_id("grade-writing").click()
    expect(marking.get_by_test_id("graded-writing")).to_have_text("Оценено: 80%")
    marking.get_by_test_id("grade-percent-speaking").fill("70")
    marking.get_by_test_id("grade-speaking").click()
    expect(marking.get_by_test_id("graded-speaking")).to_have_text("Оценено: 70%")

    page.get_by_test_id("result-refresh").click()
    level = attempt_of(site, exam_id, owner)["result"]["cefr"]
    assert level in {"A1", "A2", "B1", "B2", "C1", "C2"}
    expect(page.get_by_test_id("cefr-level")).to_have_text(f"CEFR darajasi: {level}")
    expect(page.get_by_test_id("band-speaking")).to_have_text("70%")
    # Back on the exam's page, the finished attempt is listed with a link to its result.
    page.goto(f"{site.server.base_url}/exam?id={exam_id}&lang=uz")
    expect(page.get_by_test_id("my-result")).to_contain_text(f"CEFR darajasi {level}")  # from the list itself
    page.get_by_test_id("my-result").click()
    expect(page.get_by_test_id("cefr-level")).to_have_text(f"CEFR darajasi: {level}")

    # The owner removes the grader on the page.
    owning.get_by_test_id("grader-remove").click()
    expect(owning.get_by_test_id("graders-none")).to_be_visible()
    assert site.api("GET", f"/api/exams/{exam_id}/graders", owner).json()["items"] == []

    # Someone neither owning nor grading the exam is refused the attempt on the grading page.
    stranger = site.open_signed_in(f"/grading?attempt={attempt_of(site, exam_id, owner)['id']}&lang=en",
                                   site.user(), "stranger")
    expect(stranger.get_by_test_id("grading-error")).to_be_visible()
    expect(stranger.locator("#screen-attempt")).to_be_hidden()
    assert not site.pages.problems(), site.pages.problems()


def test_an_ielts_camera_exam_sends_a_snapshot_every_minute(site: Site) -> None:
    owner, candidate = site.user(), site.user()
    body = IELTS_EXAM | {"title": f"IELTS proctored {secrets.token_hex(3)}", "proctoring": {"camera": True}}
    response = site.api("POST", "/api/exams", owner, body)
    assert response.status_code == 201, response.text
    exam_id = int(response.json()["id"])
    page = site.open("/favicon.ico", name="proctored")
    page.context.add_cookies([{"name": "lq_session", "value": candidate["session"], "url": site.server.base_url}])
    page.context.add_init_script(
        f"localStorage.setItem('lq_csrf', {json.dumps(candidate['csrf'])});\n{camera_stub(portrait_jpegs()['one'])}")
    page.clock.install()  # the page's timers run on a clock the test can move forward
    page.goto(f"{site.server.base_url}/exam?id={exam_id}&lang=en")
    page.wait_for_selector("body[data-ready='true']")
    expect(page.get_by_test_id("exam-facts")).to_contain_text("a photo is taken every minute")
    page.get_by_test_id("exam-start").click()
    page.wait_for_selector("body[data-snapshots='1']")
    page.clock.run_for(50_000)  # not yet a minute (the clock also runs on by itself meanwhile)
    page.wait_for_timeout(300)
    assert page.evaluate("document.body.dataset.snapshots") == "1"
    page.clock.run_for(10_000)
    page.wait_for_selector("body[data-snapshots='2']")
    items = site.api("GET", f"/api/exams/{exam_id}/attempts", owner).json()["items"]
    seen = site.api("GET", f"/api/attempts/{items[0]['id']}", owner).json()
    assert len([e for e in seen["proctoring"]["events"] if e["source"] == "server"]) == 2
    assert not site.pages.problems(), site.pages.problems()
