"""Host setup (sample quizzes, the server's validation errors next to the input) and the lobby
controls (lock, kick), with the clear join errors players see."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from typing import Any

import pytest
import websockets
from playwright.sync_api import expect
from websockets.typing import Subprotocol

from tests.browser.support import Pages, WebServer, http_json, quiz, screenshot

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def unknown_pin(web_server: WebServer) -> str:
    while True:
        pin = f"{random.randrange(10**6):06d}"
        if http_json("GET", f"{web_server.base_url}/api/games/{pin}")[0] == 404:
            return pin


def try_join(page: Any, pin: str, name: str) -> None:
    page.get_by_test_id("pin-input").fill(pin)
    page.get_by_test_id("name-input").fill(name)
    page.get_by_test_id("join").click()


def test_quiz_errors_sample_quiz_and_lobby_controls(pages: Pages, web_server: WebServer) -> None:
    host = pages.open("/host?lang=en", name="host")

    # Not JSON at all: said so before anything is sent.
    host.get_by_test_id("quiz-json").fill("{ not json")
    host.get_by_test_id("create").click()
    expect(host.get_by_test_id("quiz-error")).to_be_visible()
    expect(host.get_by_test_id("quiz-error")).to_contain_text("not valid JSON")

    # Valid JSON, invalid quiz: the server's details are listed next to the input.
    bad = {"title": "Bad", "questions": [{"text": "One option only", "options": ["A"], "correct": 3, "time_limit": 1}]}
    host.get_by_test_id("quiz-json").fill(json.dumps(bad))
    with host.expect_response(lambda r: r.url.endswith("/api/games")) as info:
        host.get_by_test_id("create").click()
    assert info.value.status == 422
    details = info.value.json()["error"].get("details") or []
    expect(host.get_by_test_id("quiz-error")).to_contain_text("The server refused this quiz")
    expect(host.locator("#quiz-error-details li")).to_have_count(len(details))
    screenshot(host, "host-quiz-error")

    # A quiz file from disk fills the input.
    upload = {
        "title": "From a file",
        "questions": [{"text": "1 + 1 = ?", "options": ["2", "3"], "correct": 0, "time_limit": 10}],
    }
    host.get_by_test_id("quiz-file").set_input_files(
        files=[{"name": "quiz.json", "mimeType": "application/json", "buffer": json.dumps(upload).encode()}]
    )
    expect(host.get_by_test_id("quiz-json")).to_have_value(json.dumps(upload))

    # A bundled sample: pick, create, lobby.
    host.get_by_test_id("sample-solar-system").click()
    expect(host.get_by_test_id("quiz-json")).to_have_value(re.compile("Our solar system"))
    sample = http_json("GET", f"{web_server.base_url}/api/samples/solar-system")[1]
    assert json.loads(host.get_by_test_id("quiz-json").input_value()) == sample
    expect(host.get_by_test_id("quiz-error")).to_be_hidden()
    host.get_by_test_id("create").click()
    expect(host.get_by_test_id("pin")).to_have_text(re.compile(r"^\d{6}$"))
    pin = host.get_by_test_id("pin").inner_text()
    expect(host.get_by_test_id("game-title")).to_have_text("Our solar system")

    # Join errors: unknown PIN, bad PIN format, name taken (case-insensitively), name invalid.
    first = pages.open("/play?lang=en", name="first", phone=True)
    try_join(first, unknown_pin(web_server), "Olim")
    expect(first.get_by_test_id("join-error")).to_have_text("No game with this PIN. Check the PIN on the screen.")
    try_join(first, "12", "Olim")
    expect(first.get_by_test_id("join-error")).to_have_text("The PIN has 6 digits.")
    try_join(first, pin, "Olim")
    expect(first.get_by_test_id("status")).to_have_attribute("data-state", "wait")

    second = pages.open(f"/play?pin={pin}&lang=en", name="second", phone=True)
    try_join(second, pin, "OLIM")
    expect(second.get_by_test_id("join-error")).to_contain_text("This name is taken")
    try_join(second, pin, "Ali\u200bcan")
    expect(second.get_by_test_id("join-error")).to_contain_text("not allowed")

    # Lock: the next player is refused with a clear message; unlock lets them in.
    expect(host.get_by_test_id("player-count")).to_have_text("1")
    host.get_by_test_id("lock").click()
    expect(host.get_by_test_id("lock")).to_have_text("Unlock")
    expect(host.get_by_test_id("lock")).to_have_attribute("aria-pressed", "true")
    try_join(second, pin, "Zarina")
    expect(second.get_by_test_id("join-error")).to_contain_text("The game is locked")
    host.get_by_test_id("lock").click()
    expect(host.get_by_test_id("lock")).to_have_text("Lock")
    try_join(second, pin, "Zarina")
    expect(second.get_by_test_id("status")).to_have_attribute("data-state", "wait")
    expect(host.get_by_test_id("player-count")).to_have_text("2")

    # Kick: click the name on the projector, confirm; that phone is told and cannot come back by refresh.
    host.get_by_test_id("player-name").filter(has_text="Olim").click()
    expect(host.get_by_test_id("kick-confirm")).to_have_text("Remove Olim?")
    host.get_by_test_id("kick-confirm").click()
    expect(first.get_by_test_id("status")).to_have_attribute("data-state", "kicked")
    expect(host.get_by_test_id("player-count")).to_have_text("1")
    expect(host.get_by_test_id("player-name")).to_have_text(["Zarina"])
    first.reload()
    expect(first.get_by_test_id("status")).to_have_attribute("data-state", "join")

    assert not pages.problems(), pages.problems()


def test_joining_a_finished_game_says_so(pages: Pages, web_server: WebServer) -> None:
    game = web_server.create_game(quiz("Over", [("1 + 1 = ?", ["2", "3"], 0)]))
    pin, token = game["pin"], game["host_token"]
    host = pages.open(f"/host?pin={pin}&lang=en#token={token}", name="host")
    expect(host.get_by_test_id("pin")).to_have_text(pin)
    expect(host.get_by_test_id("start")).to_be_disabled()  # no players yet
    late = pages.open(f"/play?pin={pin}&lang=en", name="late", phone=True)
    status, _ = http_json("GET", f"{web_server.base_url}/api/games/{pin}")
    assert status == 200
    _finish(web_server, pin, token)
    try_join(late, pin, "Latecomer")
    expect(late.get_by_test_id("join-error")).to_have_text("This game has already finished.")
    assert not pages.problems(), pages.problems()


def _finish(web_server: WebServer, pin: str, token: str) -> None:
    """End a game through the host protocol, as a second host screen would."""

    async def end() -> None:
        url = web_server.base_url.replace("http", "ws", 1) + f"/ws/host/{pin}"
        async with websockets.connect(url, subprotocols=[Subprotocol("quiz.v1.json")]) as ws:
            await ws.send(json.dumps({"type": "host", "token": token}))
            await ws.send(json.dumps({"type": "end"}))
            async for raw in ws:
                if json.loads(raw).get("type") == "finished":
                    return

    # Its own thread: Playwright's sync API owns this thread's event loop.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(end(), 10))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(15)
    assert not errors, errors
