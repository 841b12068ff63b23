"""Untrusted text (player names, quiz title, question and option text) is shown as text on every
page and never runs: no dialog fires, no element is made from it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import Pages, WebServer, quiz

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

EVIL = "<img src=x onerror=alert(1)>"
# The engine caps names at 24 characters; this one fits and is just as hostile.
EVIL_SHORT = "<svg onload=alert(1)>"


def injected(page: Any) -> int:
    return int(page.locator("img[src='x'], svg[onload], img[onerror], script:not([src])").count())


def test_hostile_text_shows_as_text_and_runs_nothing(pages: Pages, web_server: WebServer) -> None:
    game = web_server.create_game(
        quiz(f"Quiz {EVIL}", [(f"Which tag? {EVIL}", [EVIL, "<b>bold</b>", "&amp; & ' \""], 0)], time_limit=30)
    )
    pin, token = game["pin"], game["host_token"]
    host = pages.open(f"/host?pin={pin}&lang=en#token={token}", name="host")
    expect(host.get_by_test_id("game-title")).to_have_text(f"Quiz {EVIL}")

    player = pages.open(f"/play?pin={pin}&lang=en", name="player", phone=True)
    # The name field stops at the engine's 24 characters; a hostile name that fits is sent.
    player.get_by_test_id("name-input").fill(EVIL)
    expect(player.get_by_test_id("name-input")).to_have_value(EVIL[:24])
    name = EVIL_SHORT
    player.get_by_test_id("name-input").fill(name)
    player.get_by_test_id("join").click()
    expect(player.get_by_test_id("status")).to_have_attribute("data-state", "wait")
    expect(player.get_by_test_id("player-name")).to_have_text(name)
    expect(host.get_by_test_id("player-name")).to_have_text(name)

    host.get_by_test_id("start").click()
    expect(host.get_by_test_id("question-text")).to_have_text(f"Which tag? {EVIL}")
    expect(player.get_by_test_id("question-text")).to_have_text(f"Which tag? {EVIL}")
    expect(host.get_by_test_id("option-0")).to_contain_text(EVIL)
    expect(player.get_by_test_id("option-1")).to_contain_text("<b>bold</b>")
    expect(player.get_by_test_id("option-2")).to_contain_text("&amp; & ' \"")
    player.get_by_test_id("option-0").click()
    expect(player.get_by_test_id("status")).to_have_attribute("data-state", "correct")

    host.get_by_test_id("next").click()
    expect(host.get_by_test_id("lb-name")).to_have_text([name])
    host.get_by_test_id("next").click()
    expect(host.get_by_test_id("podium-name")).to_have_text([name])
    expect(host.get_by_test_id("result-row").locator("td").nth(1)).to_have_text(name)

    host.wait_for_timeout(300)  # a broken image would have fired its onerror by now
    for page in (host, player):
        assert injected(page) == 0
        assert page.locator("b").count() == 0
    assert not pages.problems(), pages.problems()
