"""Long questions fit without scrolling, in real Chromium: the longest question the server takes
(500 characters) with six 150-character options, and a 300-character one with four, on the
projector (1920×1080, 1280×720) and on phones (360×640, 390×844, 844×390). Text scales down;
a phone short of room shows only the shapes and letters. Checked by geometry, not by the
page's own fitting code: nothing below the fold or behind the footer, nothing clipped."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import Pages, WebServer, quiz, screenshot

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)

PROJECTORS = [(1920, 1080), (1280, 720)]
PHONES = [(360, 640), (390, 844), (844, 390)]


def words(prefix: str, length: int) -> str:
    text = prefix
    filler = ["photosynthesis", "converts", "light", "energy", "into", "chemical", "energy", "stored", "in", "glucose"]
    i = 0
    while len(text) < length:
        text += " " + filler[i % len(filler)]
        i += 1
    return text[:length].rstrip() + "?"


LONG = [
    (words("Q1", 499), [words(f"Option {i}", 149) for i in range(6)], 0),
    (words("Q2", 299), [words(f"Answer {i}", 149) for i in range(4)], 1),
]

# Independent of the page's fitting code: geometry of what must be seen.
CHECK = """() => {
  const problems = [];
  const vh = window.innerHeight;
  const footer = document.querySelector('#controls');
  const floor = footer && !footer.hidden ? footer.getBoundingClientRect().top : vh;
  if (document.scrollingElement.scrollHeight > vh + 1) problems.push('the page scrolls');
  const screen = document.querySelector('.screen:not([hidden])');
  const text = screen.querySelector('[data-testid=question-text]');
  const options = [...screen.querySelectorAll('[data-testid^=option-]')];
  for (const el of [text, ...options]) {
    const r = el.getBoundingClientRect();
    const name = el.dataset.testid;
    if (r.top < 0 || r.bottom > floor + 1) problems.push(`${name} outside [0, ${floor}]: ${r.top}-${r.bottom}`);
    if (el.scrollHeight > el.clientHeight + 1) problems.push(`${name} clipped`);
  }
  const textBottom = text.getBoundingClientRect().bottom;
  for (const el of options) {
    if (el.getBoundingClientRect().top < textBottom - 1) problems.push(`${el.dataset.testid} under the question`);
  }
  return {
    problems,
    textPx: parseFloat(getComputedStyle(text).fontSize),
    optionTextShown: options.length > 0 && options.every((o) => {
      const t = o.querySelector('.opt-text');
      return t && t.getClientRects().length > 0;
    }),
    options: options.length,
  };
}"""


def fits(page: Any, label: str) -> dict[str, Any]:
    page.wait_for_timeout(350)  # the page refits 80 ms after a resize
    result: dict[str, Any] = page.evaluate(CHECK)
    screenshot(page, label)
    assert not result["problems"], (label, result)
    return result


def wait_for_options(page: Any, count: int) -> None:
    expect(page.locator(".screen:not([hidden]) [data-testid^=option-]")).to_have_count(count)
    expect(page.get_by_test_id("get-ready")).to_be_hidden()


def test_the_longest_questions_fit_projectors_and_phones(pages: Pages, web_server: WebServer) -> None:
    game = web_server.create_game(quiz("Long", LONG, time_limit=120))
    pin, token = game["pin"], game["host_token"]
    host = pages.open(f"/host?pin={pin}&lang=en#token={token}", name="host")
    phone = pages.open(f"/play?pin={pin}&lang=en", name="phone", phone=True, viewport={"width": 360, "height": 640})
    phone.get_by_test_id("name-input").fill("Reader")
    phone.get_by_test_id("join").click()
    expect(host.get_by_test_id("player-count")).to_have_text("1")
    host.get_by_test_id("start").click()

    for qi, (_, options, _) in enumerate(LONG):
        wait_for_options(host, len(options))
        wait_for_options(phone, len(options))
        for width, height in PROJECTORS:
            host.set_viewport_size({"width": width, "height": height})
            shown = fits(host, f"fit-host-q{qi + 1}-{width}x{height}")
            assert shown["optionTextShown"], "the projector always shows the option texts"
            assert shown["textPx"] >= 16, shown  # still readable from the back of the room
        compact = []
        for width, height in PHONES:
            phone.set_viewport_size({"width": width, "height": height})
            compact.append(not fits(phone, f"fit-phone-q{qi + 1}-{width}x{height}")["optionTextShown"])
        if qi == 0:
            assert compact[0], "six long options on a 360x640 phone leave room only for shapes and letters"
        host.set_viewport_size({"width": 1920, "height": 1080})
        host.get_by_test_id("next").click()  # skip: the reveal
        expect(host.get_by_test_id("distribution")).to_be_visible()
        for width, height in PROJECTORS:
            host.set_viewport_size({"width": width, "height": height})
            fits(host, f"fit-host-reveal-q{qi + 1}-{width}x{height}")
        host.set_viewport_size({"width": 1920, "height": 1080})
        host.get_by_test_id("next").click()
        expect(host.get_by_test_id("leaderboard")).to_be_visible()
        host.get_by_test_id("next").click()
    expect(host.get_by_test_id("podium")).to_be_visible()
    assert not pages.problems(), pages.problems()
