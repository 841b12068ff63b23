"""The Speaking room in two real Chromium pages with fake camera and microphone (issue 21,
000 §14): the owner publishes a slot on the page, the candidate books it, and once the room is
open both pages reach RTCPeerConnection "connected" (host candidates only, no STUN/TURN),
see each other's video, exchange chat lines, and the server records the call as held. Before
the room opens the page says so. The slot's time is moved in the database, not waited for.

A server of its own on SQLite; users are written straight into its database with a browser
session (cookie + the CSRF token login would have stored)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from persistence.types import utcnow
from tests.browser.signed_in import run, user_with_session
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, Pages, screenshot, wait_until
from tests.persistence.speaking_bodies import scheduled_ielts
from tests.platform_support import platform_server
from tests.speaking_support import move_slot
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=15_000)
FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def speaking_site(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[ServerProcess, SqlTarget]]:
    folder = tmp_path_factory.mktemp("speaking-web")
    target = SqlTarget("sqlite", url=f"sqlite+aiosqlite:///{folder / 'speaking.db'}")
    with platform_server(target, folder / "data", redis_url) as server:
        yield server, target


@pytest.fixture(scope="module")
def media_browser(browser: Any) -> Iterator[Any]:
    """Chromium with a fake camera and microphone, permission granted without a prompt."""
    assert browser.browser_type.executable_path or CHROMIUM
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *FAKE_MEDIA])
    yield launched
    launched.close()


class Site:
    def __init__(self, browser: Any, server: ServerProcess, target: SqlTarget) -> None:
        self.pages = Pages(browser, server.base_url)
        self.server, self.target = server, target

    def user(self, name: str) -> dict[str, Any]:
        return run(user_with_session(self.target, f"{name}_{secrets.token_hex(4)}", name.title()))

    def api(self, method: str, path: str, user: dict[str, Any], body: Any = None) -> httpx.Response:
        return httpx.request(method, self.server.base_url + path, json=body, timeout=10,
                             headers={"Authorization": f"Bearer {user['token']}"})

    def open_signed_in(self, path: str, user: dict[str, Any], name: str) -> Any:
        page = self.pages.open("/favicon.ico", name=name, timezone_id="UTC",
                               permissions=["camera", "microphone"])
        page.context.add_cookies([{"name": "lq_session", "value": user["session"], "url": self.server.base_url}])
        page.context.add_init_script(f"localStorage.setItem('lq_csrf', {json.dumps(user['csrf'])});")
        page.goto(self.server.base_url + path)
        page.wait_for_selector("body[data-ready='true']")
        return page


@pytest.fixture
def site(media_browser: Any, speaking_site: tuple[ServerProcess, SqlTarget]) -> Iterator[Site]:
    made = Site(media_browser, *speaking_site)
    yield made
    made.pages.close()


def test_two_browsers_book_call_and_chat(site: Site) -> None:
    owner, candidate = site.user("examiner"), site.user("candidate")
    created = site.api("POST", "/api/exams", owner, scheduled_ielts(title="Speaking mock"))
    assert created.status_code == 201, created.text
    exam_id = created.json()["id"]

    # The owner publishes a slot on the page (its time in the page's zone, UTC here).
    grader = site.open_signed_in(f"/speaking?exam={exam_id}&lang=en", owner, "grader")
    expect(grader.get_by_test_id("exam-title")).to_have_text("Speaking mock")
    start = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    grader.get_by_test_id("publish-start").fill(start.strftime("%Y-%m-%dT%H:%M"))
    grader.get_by_test_id("publish-duration").fill("15")
    grader.get_by_test_id("publish").click()
    expect(grader.get_by_test_id("slot-state")).to_have_text("free")
    slot = site.api("GET", f"/api/exams/{exam_id}/speaking-slots", owner).json()["items"][0]
    assert slot["starts_at"] == start.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # The candidate books it; before the room opens the page says so.
    talker = site.open_signed_in(f"/speaking?exam={exam_id}&lang=en", candidate, "candidate")
    talker.get_by_test_id("book").click()
    expect(talker.get_by_test_id("my-booking")).to_be_visible()
    expect(talker.get_by_test_id("book")).to_have_count(0)
    talker.get_by_test_id("cancel-booking").click()  # changed their mind, and back
    expect(talker.get_by_test_id("my-booking")).to_be_hidden()
    talker.get_by_test_id("book").click()
    expect(talker.get_by_test_id("my-booking")).to_be_visible()
    grader.reload()
    expect(grader.get_by_test_id("slot-state")).to_have_text("booked")
    expect(grader.get_by_test_id("slot-candidate")).to_have_text("Candidate")
    talker.get_by_test_id("enter-room").first.click()
    expect(talker.locator("body")).to_have_attribute("data-room-status", "closed.not_open")
    expect(talker.get_by_test_id("room-status")).to_contain_text("The room is not open yet")

    # The slot started a minute ago: both enter, and the call connects peer to peer.
    run(move_slot(site.target, slot["id"], utcnow() - timedelta(minutes=1), timedelta(minutes=15)))
    talker.goto(f"{site.server.base_url}/speaking?slot={slot['id']}&lang=en")
    expect(talker.get_by_test_id("room-status")).to_have_text("Waiting for the other party…")
    grader.goto(f"{site.server.base_url}/speaking?slot={slot['id']}&lang=en")
    for page in (grader, talker):
        expect(page.locator("body")).to_have_attribute("data-connection", "connected", timeout=30_000)
        expect(page.get_by_test_id("room-status")).to_have_text("Call connected")
        wait_until(page, "(document.querySelector('#remote-video')?.videoWidth ?? 0) > 0")
    expect(grader.get_by_test_id("room-title")).to_have_text("Speaking mock")

    talker.get_by_test_id("chat-text").fill("Good morning!")
    talker.get_by_test_id("chat-send").click()
    expect(grader.get_by_test_id("chat-line")).to_contain_text("Candidate")
    expect(grader.get_by_test_id("chat-line")).to_contain_text("Good morning!")
    grader.get_by_test_id("chat-text").fill("Good morning. Let us begin.")
    grader.get_by_test_id("chat-send").click()
    expect(talker.get_by_test_id("chat-line").nth(1)).to_contain_text("Let us begin.")
    expect(grader.locator("body")).to_have_attribute("data-held", "true")
    screenshot(grader, "speaking-room")
    for lang, connected in (("ru", "Звонок соединён"), ("uz", "Qo'ng'iroq ulandi")):
        grader.get_by_test_id("lang").select_option(lang)
        expect(grader.get_by_test_id("room-status")).to_have_text(connected)

    detail = site.api("GET", f"/api/speaking-slots/{slot['id']}", owner).json()
    assert detail["state"] == "held" and detail["held_at"], detail
    mine = site.api("GET", "/api/me/speaking-slots", candidate).json()["items"]
    assert [(s["id"], s["state"]) for s in mine] == [(slot["id"], "held")]
    assert not site.pages.problems(), site.pages.problems()
