"""A whole classroom game in real Chromium: the host's projector page and three phones, each in
its own browser context, play a 3-question quiz to the podium. Every page's points and ranks
must match what the server reports in `GET /api/games/{pin}/results`."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import Pages, WebServer, quiz, screenshot

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

QUESTIONS = [
    ("Which shape has three sides?", ["Triangle", "Square", "Circle", "Hexagon"], 0),
    ("The Sun is a star.", ["True", "False"], 0),
    ("Which of these numbers is prime?", ["4", "6", "7", "8", "9", "10"], 2),
]
QUIZ = quiz("Shapes, stars and numbers", QUESTIONS, time_limit=30)
NAMES = ["Aziza", "Boris", "Dilnoza"]
# ANSWERS[question][player]
ANSWERS = [[0, 0, 1], [0, 1, 0], [2, 2, 3]]


def join(pages: Pages, pin: str, name: str) -> Any:
    page = pages.open(f"/play?pin={pin}&lang=en", name=name, phone=True)
    expect(page.get_by_test_id("pin-input")).to_have_value(pin)
    page.get_by_test_id("name-input").fill(name)
    page.get_by_test_id("join").click()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "wait")
    expect(page.get_by_test_id("player-name")).to_have_text(name)
    return page


def blur(page: Any) -> None:
    """Keys go to the page itself, not to a focused button."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def assert_fits(page: Any) -> None:
    """Projector screens must not scroll."""
    overflow = page.evaluate("() => document.scrollingElement.scrollHeight - window.innerHeight")
    assert overflow <= 1, f"page overflows the viewport by {overflow}px"


def test_full_game_three_players_to_the_podium(pages: Pages, web_server: WebServer) -> None:
    host = pages.open("/host?lang=en", name="host")
    host.get_by_test_id("quiz-json").fill(json.dumps(QUIZ))
    with host.expect_response(lambda r: r.url.endswith("/api/games") and r.request.method == "POST") as info:
        host.get_by_test_id("create").click()
    created = info.value.json()
    pin, token = created["pin"], created["host_token"]

    # Lobby: PIN, join URL, QR code rendered by the server.
    expect(host.get_by_test_id("pin")).to_have_text(pin)
    expect(host.get_by_test_id("join-url")).to_contain_text("/play")
    qr = host.get_by_test_id("qr")
    expect(qr).to_have_attribute("src", f"/qr.svg?pin={pin}")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(host.get_by_test_id("start")).to_be_disabled()

    players = [join(pages, pin, name) for name in NAMES]
    expect(host.get_by_test_id("player-count")).to_have_text("3")
    expect(host.get_by_test_id("player-name")).to_have_text(NAMES)
    expect(host.get_by_test_id("start")).to_be_enabled()
    screenshot(host, "host-lobby")
    assert_fits(host)

    # Space on the host screen starts the game (keyboard control).
    blur(host)
    host.keyboard.press("Space")

    totals = [0, 0, 0]
    for qi, (text, options, correct) in enumerate(QUESTIONS):
        expect(host.get_by_test_id("question-text")).to_have_text(text)
        expect(host.locator("[data-testid^=option-]")).to_have_count(len(options))
        expect(host.get_by_test_id("question-counter")).to_have_text(f"Question {qi + 1} of 3")
        countdown = host.get_by_test_id("countdown")
        expect(countdown).to_have_text(re.compile(r"^\d+$"))
        assert 20 <= int(countdown.inner_text()) <= 30
        for i, option in enumerate(options):
            expect(host.get_by_test_id(f"option-{i}")).to_contain_text(option)
        for page in players:
            expect(page.get_by_test_id("question-text")).to_have_text(text)
            expect(page.locator("button[data-testid^=option-]")).to_have_count(len(options))
            expect(page.get_by_test_id("status")).to_have_attribute("data-state", "question")
        if qi == 0:
            screenshot(players[0], "player-question")

        # Two answer; the count goes up on the host screen; the last answer closes the question.
        for k in range(2):
            players[k].get_by_test_id(f"option-{ANSWERS[qi][k]}").click()
            expect(players[k].get_by_test_id("status")).to_have_attribute("data-state", "answered")
            expect(host.get_by_test_id("answer-count")).to_have_text(str(k + 1))
        if qi == 0:
            screenshot(players[0], "player-answered")
        if qi == 2:  # six options: every colour, shape and letter
            screenshot(host, "host-question")
            assert_fits(host)
        players[2].get_by_test_id(f"option-{ANSWERS[qi][2]}").click()

        # Reveal: correct option marked, distribution matches the answers.
        expect(host.get_by_test_id("distribution")).to_be_visible()
        expect(host.get_by_test_id(f"option-{correct}")).to_have_class(re.compile(r"\bcorrect\b"))
        for i in range(len(options)):
            count = sum(1 for a in ANSWERS[qi] if a == i)
            expect(host.get_by_test_id(f"bar-{i}")).to_have_attribute("data-count", str(count))
        for k, page in enumerate(players):
            right = ANSWERS[qi][k] == correct
            expect(page.get_by_test_id("status")).to_have_attribute("data-state", "correct" if right else "wrong")
            gained = int(page.get_by_test_id("gained").get_attribute("data-value") or "-1")
            if right:
                assert 0 < gained <= 1000, gained
            else:
                assert gained == 0
            totals[k] += gained
            expect(page.get_by_test_id("points")).to_have_text(str(totals[k]))
            expect(page.get_by_test_id("rank")).to_have_text(re.compile(r"^[123]$"))
        if qi == 0:
            screenshot(host, "host-reveal")
            screenshot(players[0], "player-reveal")
            screenshot(players[2], "player-reveal-wrong")

        # Leaderboard (press Enter once, click otherwise), then on.
        if qi == 1:
            blur(host)
            host.keyboard.press("Enter")
        else:
            host.get_by_test_id("next").click()
        rows = host.get_by_test_id("leaderboard-row")
        expect(rows).to_have_count(3)
        shown = {
            rows.nth(i).get_by_test_id("lb-name").inner_text(): int(rows.nth(i).get_by_test_id("lb-score").inner_text())
            for i in range(3)
        }
        assert shown == dict(zip(NAMES, totals, strict=True))
        if qi == 1:
            screenshot(host, "host-leaderboard")
        expect(host.get_by_test_id("next")).to_have_text("Final results" if qi == 2 else "Next question")
        host.get_by_test_id("next").click()

    # The end: podium and results on the host, final rank on every phone.
    expect(host.get_by_test_id("podium")).to_be_visible()
    results = web_server.results(pin, token)
    assert len(results) == 3
    by_name = {r["name"]: r for r in results}
    for k, name in enumerate(NAMES):
        assert by_name[name]["score"] == totals[k], (name, by_name[name], totals[k])
        assert by_name[name]["answers"] == 3
    for name, page in zip(NAMES, players, strict=True):
        expect(page.get_by_test_id("status")).to_have_attribute(
            "data-state", "winner" if by_name[name]["rank"] == 1 else "finished"
        )
        expect(page.get_by_test_id("points")).to_have_text(str(by_name[name]["score"]))
        expect(page.get_by_test_id("rank")).to_have_text(str(by_name[name]["rank"]))
        expect(page.get_by_test_id("final-rank")).to_have_attribute("data-rank", str(by_name[name]["rank"]))

    expect(host.get_by_test_id("result-row")).to_have_count(3)
    for i, r in enumerate(results):
        cells = host.get_by_test_id("result-row").nth(i).locator("td")
        expect(cells).to_have_text([str(r["rank"]), r["name"], str(r["score"]), str(r["answers"]), str(r["correct"])])
    for place in (1, 2, 3):
        expect(host.get_by_test_id(f"podium-{place}").get_by_test_id("podium-name")).to_have_text(
            results[place - 1]["name"]
        )
    host.wait_for_timeout(900)  # let the podium rise before the picture
    screenshot(host, "host-podium")
    screenshot(players[0], "player-final")

    with host.expect_download() as download_info:
        host.get_by_test_id("csv").click()
    content = download_info.value.path().read_text(encoding="utf-8-sig")
    rows_csv = list(csv.reader(io.StringIO(content)))
    assert rows_csv[0] == ["Place", "Name", "Score", "Answers", "Correct"]
    assert [(r[1], int(r[2])) for r in rows_csv[1:]] == [(r["name"], r["score"]) for r in results]

    assert not pages.problems(), pages.problems()
