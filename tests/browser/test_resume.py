"""Refresh and dropped networks: the player's token in localStorage and `resume` bring a phone
back mid-question with its answer honoured; the host screen reconnects from sessionStorage."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import Pages, WebServer, quiz

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

QUESTIONS = [
    ("Which planet is the largest?", ["Mars", "Jupiter", "Venus", "Mercury"], 1),
    ("Water freezes at 0 °C.", ["True", "False"], 0),
]


class Flaky:
    """Routes a page's game socket through Playwright so the test can cut it and hold it down."""

    def __init__(self, page: Any, path: str = "/ws/play/") -> None:
        self.down = False
        self.live: list[tuple[Any, Any]] = []
        page.route_web_socket(re.compile(re.escape(path)), self._route)

    def _route(self, ws: Any) -> None:
        if self.down:
            ws.close(code=4000, reason="network down")
            return
        self.live.append((ws, ws.connect_to_server()))

    def cut(self) -> None:
        self.down = True
        for ws, server in self.live:
            ws.close(code=4000, reason="network down")
            server.close()
        self.live.clear()

    def restore(self) -> None:
        self.down = False


def join(page: Any, name: str) -> None:
    page.get_by_test_id("name-input").fill(name)
    page.get_by_test_id("join").click()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "wait")


def test_refresh_and_dropped_network_mid_question(pages: Pages, web_server: WebServer) -> None:
    game = web_server.create_game(quiz("Resume", QUESTIONS, time_limit=60))
    pin, token = game["pin"], game["host_token"]
    host = pages.open(f"/host?pin={pin}&lang=en#token={token}", name="host", reduced_motion="reduce")
    expect(host.get_by_test_id("pin")).to_have_text(pin)
    assert "token" not in host.url, "the host token must not stay in the address bar"

    anvar = pages.open(f"/play?pin={pin}&lang=en", name="Anvar", phone=True)
    join(anvar, "Anvar")
    bella = pages.open(f"/play?pin={pin}&lang=en", name="Bella", phone=True)
    flaky = Flaky(bella)
    bella.reload()
    join(bella, "Bella")
    carl = pages.open(f"/play?pin={pin}&lang=en", name="Carl", phone=True)
    join(carl, "Carl")
    expect(host.get_by_test_id("player-count")).to_have_text("3")

    host.get_by_test_id("start").click()
    text, options, correct = QUESTIONS[0]
    for page in (anvar, bella, carl):
        expect(page.get_by_test_id("question-text")).to_have_text(text)

    # Anvar answers, then refreshes: the page comes back answered, with the same choice.
    anvar.get_by_test_id("option-1").click()
    expect(anvar.get_by_test_id("status")).to_have_attribute("data-state", "answered")
    expect(host.get_by_test_id("answer-count")).to_have_text("1")
    anvar.reload()
    expect(anvar.get_by_test_id("question-text")).to_have_text(text)
    expect(anvar.get_by_test_id("status")).to_have_attribute("data-state", "answered")
    expect(anvar.get_by_test_id("option-1")).to_have_class(re.compile(r"\bchosen\b"))
    for i in range(len(options)):
        expect(anvar.get_by_test_id(f"option-{i}")).to_be_disabled()
    expect(anvar.get_by_test_id("player-name")).to_have_text("Anvar")

    # The host screen reloads too: same question and clock, no new game.
    host_net = Flaky(host, "/ws/host/")
    host.reload()
    expect(host.get_by_test_id("question-text")).to_have_text(text)
    expect(host.get_by_test_id("countdown")).to_have_text(re.compile(r"^\d+$"))
    assert 40 <= int(host.get_by_test_id("countdown").inner_text()) <= 60

    # Bella's network drops; she taps while offline; the answer goes out once she is back.
    flaky.cut()
    expect(bella.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    bella.get_by_test_id("option-0").click()
    expect(bella.get_by_test_id("status")).to_have_attribute("data-state", "answered")
    flaky.restore()
    expect(bella.locator("#conn")).to_have_attribute("data-state", "open")
    expect(bella.get_by_test_id("status")).to_have_attribute("data-state", "answered")
    expect(bella.get_by_test_id("option-0")).to_have_class(re.compile(r"\bchosen\b"))

    # Carl answers last: the question closes and everyone sees the outcome of the answer they gave.
    carl.get_by_test_id("option-1").click()
    expect(anvar.get_by_test_id("status")).to_have_attribute("data-state", "correct")
    expect(bella.get_by_test_id("status")).to_have_attribute("data-state", "wrong")
    expect(carl.get_by_test_id("status")).to_have_attribute("data-state", "correct")
    expect(host.get_by_test_id(f"option-{correct}")).to_have_class(re.compile(r"\bcorrect\b"))
    expect(host.get_by_test_id("bar-1")).to_have_attribute("data-count", "2")
    expect(host.get_by_test_id("bar-0")).to_have_attribute("data-count", "1")

    # The host's socket drops during the reveal: it reconnects by itself, without a reload.
    host.evaluate("() => { window.__still_here = true; }")
    host_net.cut()
    expect(host.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    host_net.restore()
    expect(host.locator("#conn")).to_have_attribute("data-state", "open")
    expect(host.get_by_test_id("distribution")).to_be_visible()
    expect(host.get_by_test_id(f"option-{correct}")).to_have_class(re.compile(r"\bcorrect\b"))
    assert host.evaluate("() => window.__still_here === true")

    # A refresh during the reveal shows the reveal again, with the same points.
    points = anvar.get_by_test_id("points").inner_text()
    assert int(points) > 0
    anvar.reload()
    expect(anvar.get_by_test_id("status")).to_have_attribute("data-state", "correct")
    expect(anvar.get_by_test_id("points")).to_have_text(points)

    # End the game (two clicks: confirm) and compare with the server.
    host.get_by_test_id("end").click()
    host.get_by_test_id("end").click()
    expect(host.get_by_test_id("podium")).to_be_visible()
    results = {r["name"]: r for r in web_server.results(pin, token)}
    for name, page in (("Anvar", anvar), ("Bella", bella), ("Carl", carl)):
        expect(page.get_by_test_id("points")).to_have_text(str(results[name]["score"]))
        expect(page.get_by_test_id("rank")).to_have_text(str(results[name]["rank"]))
    assert results["Bella"]["score"] == 0 and results["Bella"]["answers"] == 1

    assert not pages.problems(), pages.problems()


def test_host_reconnect_mid_question_keeps_the_answer_count(pages: Pages, web_server: WebServer) -> None:
    game = web_server.create_game(quiz("Host reload", QUESTIONS[:1], time_limit=60))
    pin, token = game["pin"], game["host_token"]
    host = pages.open(f"/host?pin={pin}&lang=en#token={token}", name="host")
    one = pages.open(f"/play?pin={pin}&lang=en", name="One", phone=True)
    join(one, "One")
    two = pages.open(f"/play?pin={pin}&lang=en", name="Two", phone=True)
    join(two, "Two")
    expect(host.get_by_test_id("player-count")).to_have_text("2")
    host.get_by_test_id("start").click()
    one.get_by_test_id("option-0").click()
    expect(host.get_by_test_id("answer-count")).to_have_text("1")
    host.reload()
    expect(host.get_by_test_id("question-text")).to_have_text(QUESTIONS[0][0])
    expect(host.get_by_test_id("answer-count")).to_have_text("1", timeout=3000)
