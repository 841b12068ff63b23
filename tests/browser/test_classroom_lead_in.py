"""The "get ready" lead-in in real Chromium: with `settings.lead_in_s`, the projector and the
phone show the question and a countdown, no answers; when answers open (`opens_at`) the
options appear and the full time limit starts then, so an answer at once scores near 1000.
The editor's lead-in field reaches the server as `settings.lead_in_s`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import Pages, WebServer, quiz, screenshot

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

QUESTIONS = [
    ("What colour is the sky on a clear day?", ["Blue", "Green", "Red", "Black"], 0),
    ("How many legs does a spider have?", ["6", "8"], 1),
]


def ready_number(page: Any) -> int:
    return int(page.locator("#get-ready-num").inner_text())


# A clock started at the lead-in instead of at answers opening would show at most 20 - 5 = 15 s
# and score at most 750 the moment answers open; the checks below allow 4 s for a busy machine
# to observe that moment (a 3 s lead-in left one: a loaded CI read 18 s and failed).
LEAD_IN_S = 5


def test_questions_open_after_a_get_ready_countdown(pages: Pages, web_server: WebServer) -> None:
    body = quiz("Ready", QUESTIONS, time_limit=20)
    body["settings"] = {"lead_in_s": LEAD_IN_S}
    game = web_server.create_game(body)
    pin, token = game["pin"], game["host_token"]
    host = pages.open(f"/host?pin={pin}&lang=en#token={token}", name="host")
    phone = pages.open(f"/play?pin={pin}&lang=en", name="phone", phone=True)
    phone.get_by_test_id("name-input").fill("Quick")
    phone.get_by_test_id("join").click()
    expect(host.get_by_test_id("player-count")).to_have_text("1")
    host.get_by_test_id("start").click()

    for qi, (text, options, correct) in enumerate(QUESTIONS):
        # The lead-in: text and countdown, no answers anywhere.
        expect(host.get_by_test_id("get-ready")).to_be_visible()
        expect(host.get_by_test_id("question-text")).to_have_text(text)
        expect(host.locator("#screen-question [data-testid^=option-]")).to_have_count(0)
        expect(host.get_by_test_id("answer-count")).to_be_hidden()
        expect(phone.get_by_test_id("get-ready")).to_be_visible()
        expect(phone.get_by_test_id("status")).to_have_attribute("data-state", "get_ready")
        expect(phone.get_by_test_id("question-text")).to_have_text(text)
        expect(phone.locator("button[data-testid^=option-]")).to_have_count(0)
        assert 1 <= ready_number(host) <= LEAD_IN_S and 1 <= ready_number(phone) <= LEAD_IN_S
        expect(host.get_by_test_id("get-ready")).to_contain_text("Get ready!")
        if qi == 0:
            screenshot(host, "classroom-get-ready-host")
            screenshot(phone, "classroom-get-ready-phone")

        # Answers open: the options appear and the whole time limit is still there.
        expect(phone.locator("button[data-testid^=option-]")).to_have_count(len(options))
        assert int(phone.get_by_test_id("countdown").inner_text()) >= 16
        phone.get_by_test_id(f"option-{correct}").click()
        expect(host.locator("#screen-question [data-testid^=option-]")).to_have_count(len(options))
        expect(host.get_by_test_id("countdown")).to_have_text(re.compile(r"^(1[6-9]|20)$"))
        expect(host.get_by_test_id("get-ready")).to_be_hidden()
        expect(phone.get_by_test_id("get-ready")).to_be_hidden()
        expect(phone.get_by_test_id("status")).to_have_attribute("data-state", "correct")
        gained = int(phone.get_by_test_id("gained").get_attribute("data-value") or "0")
        assert gained >= 800, f"the clock started when answers opened, not at the lead-in: {gained}"
        host.get_by_test_id("next").click()
        expect(host.get_by_test_id("leaderboard")).to_be_visible()
        host.get_by_test_id("next").click()
    expect(host.get_by_test_id("podium")).to_be_visible()
    assert not pages.problems(), pages.problems()


def test_the_editors_lead_in_reaches_the_game(pages: Pages, web_server: WebServer) -> None:
    host = pages.open("/host?lang=en", name="teacher")
    host.get_by_test_id("editor-new").click()
    host.get_by_test_id("editor-title").fill("Two seconds")
    host.get_by_test_id("editor-lead-in").fill("2")
    host.get_by_test_id("question-text-0").fill("Ready?")
    host.get_by_test_id("option-0-0").fill("Yes")
    host.get_by_test_id("option-0-1").fill("No")
    host.get_by_test_id("correct-0-0").check()
    host.get_by_test_id("time-limit-0").fill("10")
    host.get_by_test_id("editor-start").click()
    expect(host.get_by_test_id("pin")).to_have_text(re.compile(r"^\d{6}$"))
    pin = host.get_by_test_id("pin").inner_text()
    phone = pages.open(f"/play?pin={pin}&lang=en", name="phone", phone=True)
    phone.get_by_test_id("name-input").fill("Ready")
    phone.get_by_test_id("join").click()
    expect(host.get_by_test_id("start")).to_be_enabled()
    host.get_by_test_id("start").click()
    expect(phone.get_by_test_id("get-ready")).to_be_visible()
    expect(phone.locator("button[data-testid^=option-]")).to_have_count(2)

    # Out of range: the server's refusal stands next to the lead-in field.
    host.get_by_test_id("end").click()
    host.get_by_test_id("end").click()
    expect(host.get_by_test_id("podium")).to_be_visible()
    host.get_by_test_id("new-game").click()
    host.get_by_test_id("editor-lead-in").fill("11")
    host.get_by_test_id("editor-start").click()
    expect(host.get_by_test_id("error-lead_in")).to_have_text("“Get ready” is a whole number of seconds from 0 to 10.")
    assert not pages.problems(), pages.problems()
