"""The account pages in real Chromium: sign up, host a game with the session, play it signed
in on a phone, and find it under "my games" and "my results"; then the profile: edit, the
Telegram link code, export, wrong password, sign out and in, and deletion.

A server of its own with the test harness's settings (the platform's per-address limits off:
every page here comes from 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from persistence.db import Database
from persistence.results import store
from persistence.types import utcnow
from tests.browser.signed_in import register_and_sign_in
from tests.browser.support import Pages, quiz, screenshot
from tests.fakes.oidc_provider import FakeOidcProvider, Person
from tests.support import ServerProcess, start_server

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

QUIZ = quiz("Capitals", [("Capital of Uzbekistan?", ["Tashkent", "Samarkand", "Bukhara", "Khiva"], 0)],
            time_limit=30)


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOidcProvider]:
    with FakeOidcProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def account_server(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, provider: FakeOidcProvider,
) -> Iterator[ServerProcess]:
    google = {"LIVEQUIZ_GOOGLE_CLIENT_ID": provider.client_id, "LIVEQUIZ_GOOGLE_CLIENT_SECRET": provider.client_secret,
              "LIVEQUIZ_GOOGLE_DISCOVERY_URL": provider.discovery_url}
    server = start_server(tmp_path_factory.mktemp("accounts-web"), redis_url, extra_env=google)
    yield server
    server.stop()


@pytest.fixture
def site(browser: Any, account_server: ServerProcess) -> Iterator[Pages]:
    pages = Pages(browser, account_server.base_url)
    yield pages
    pages.close()


def sign_up(page: Any, username: str, first_name: str, *, stays: bool = True, **extra: str) -> None:
    expect(page.get_by_test_id("signup-submit")).to_be_visible()
    page.get_by_test_id("signup-username").fill(username)
    page.get_by_test_id("signup-password").fill("password 12")
    page.get_by_test_id("signup-first_name").fill(first_name)
    for field, value in extra.items():
        page.get_by_test_id(f"signup-{field}").fill(value)
    page.get_by_test_id("signup-submit").click()
    if stays:
        expect(page.get_by_test_id("signed-in-as")).to_have_text(f"@{username}")


def reload_until(page: Any, locator: str, timeout_ms: int = 15_000) -> Any:
    """The results reach SQL just after the game ends: reload until the list shows them."""
    waited = 0
    while page.locator(locator).count() == 0 and waited < timeout_ms:
        page.wait_for_timeout(300)
        waited += 300
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
    return page.locator(locator)


def test_sign_up_host_a_game_and_find_it_in_my_games_and_my_results(site: Pages, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    host_name, player_name = f"host_{tag}", f"player_{tag}"

    host = site.open("/host?lang=en", name="host")
    link = host.get_by_test_id("account-link")
    expect(link).to_have_text("Sign in")
    link.click()
    expect(host).to_have_url(f"{site.base_url}/account?next=/host")
    host.get_by_test_id("to-signup").click()
    sign_up(host, host_name, "Hostess", stays=False, email=f"{host_name}@example.org")
    # Signed in from the host page's link: back to /host, signed in by the session cookie.
    expect(host).to_have_url(f"{site.base_url}/host")
    expect(host.get_by_test_id("account-link")).to_have_text(f"@{host_name}")
    host.get_by_test_id("quiz-json").fill(json.dumps(QUIZ))
    with host.expect_response(lambda r: r.url.endswith("/api/games") and r.request.method == "POST") as info:
        host.get_by_test_id("create").click()
    pin = info.value.json()["pin"]
    expect(host.get_by_test_id("pin")).to_have_text(pin)

    phone = site.open("/account?lang=en#signup", name="player", phone=True)
    sign_up(phone, player_name, "Player")
    phone.goto(f"{site.base_url}/play?pin={pin}&lang=en")
    phone.get_by_test_id("name-input").fill("Pat")
    phone.get_by_test_id("join").click()
    expect(phone.get_by_test_id("status")).to_have_attribute("data-state", "wait")

    host.get_by_test_id("start").click()
    phone.get_by_test_id("option-0").click()
    expect(phone.get_by_test_id("status")).to_have_attribute("data-state", "correct")
    host.get_by_test_id("next").click()
    expect(host.get_by_test_id("next")).to_have_text("Final results")
    host.get_by_test_id("next").click()
    expect(host.get_by_test_id("podium")).to_be_visible()

    host.goto(f"{site.base_url}/account?lang=en#games")
    hosted = reload_until(host, f"[data-testid=hosted-game][data-pin='{pin}']")
    expect(hosted).to_have_count(1)
    expect(hosted.locator(".h-title")).to_have_text("Capitals")
    expect(hosted.locator("td")).to_have_text(["1", "Pat", hosted.locator("td").nth(2).inner_text()])
    screenshot(host, "account-my-games")

    phone.goto(f"{site.base_url}/account?lang=en#games")
    played = reload_until(phone, f"[data-testid=played-game][data-pin='{pin}']")
    expect(played).to_have_count(1)
    expect(played.locator(".h-meta")).to_contain_text("rank 1 of 1")
    expect(phone.get_by_test_id("hosted-empty")).to_be_visible()
    assert not site.problems(), site.problems()


def test_profile_edit_telegram_code_export_password_and_delete(site: Pages) -> None:
    name = f"prof_{secrets.token_hex(3)}"
    page = site.open("/account?lang=en#signup", name="profile")
    sign_up(page, name, "Firstname")
    expect(page.locator("body")).to_have_attribute("data-screen", "profile")
    expect(page.get_by_test_id("flash")).to_have_text("Welcome! Your account is ready.")
    expect(page.get_by_test_id("profile-username")).to_have_value(name)
    screenshot(page, "account-profile")

    # Edit: a refused field shows the server's field detail; a good one saves.
    page.get_by_test_id("profile-email").fill("not-an-email")
    page.get_by_test_id("profile-save").click()
    expect(page.get_by_test_id("profile-error")).to_contain_text("Email")
    page.get_by_test_id("profile-email").fill(f"{name}@example.org")
    page.get_by_test_id("profile-last_name").fill("Lastname")
    page.get_by_test_id("profile-save").click()
    expect(page.get_by_test_id("flash")).to_have_text("Profile saved.")
    page.reload()
    expect(page.get_by_test_id("profile-last_name")).to_have_value("Lastname")

    # Telegram: a code to send to the bot.
    expect(page.get_by_test_id("tg-status")).to_contain_text("Not linked")
    page.get_by_test_id("tg-code").click()
    expect(page.get_by_test_id("tg-code-text")).to_have_text(re.compile(r"^/link [A-Z2-9]{8}$"))

    # Export: a JSON file with the profile.
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["profile"]["email"] == f"{name}@example.org"

    # Language: the page follows the switcher.
    page.get_by_test_id("lang").select_option("ru")
    expect(page.get_by_test_id("profile-save")).to_have_text("Сохранить")
    page.get_by_test_id("lang").select_option("en")

    # Sign out, a wrong password, sign in again.
    page.get_by_test_id("sign-out").click()
    expect(page.locator("body")).to_have_attribute("data-screen", "signin")
    page.get_by_test_id("signin-login").fill(name)
    page.get_by_test_id("signin-password").fill("wrong pass 9")
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signin-error")).to_have_text("Wrong login or password.")
    page.get_by_test_id("signin-password").fill("password 12")
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(f"@{name}")

    # Delete: needs the box ticked and the password; then the account is gone.
    page.get_by_test_id("delete-password").fill("password 12")
    page.get_by_test_id("delete-submit").click()
    expect(page.get_by_test_id("delete-error")).to_have_text("Tick the box to confirm.")
    page.get_by_test_id("delete-confirm").check()
    page.get_by_test_id("delete-submit").click()
    expect(page.get_by_test_id("flash")).to_have_text("Your account has been deleted.")
    expect(page.locator("body")).to_have_attribute("data-screen", "signin")
    page.get_by_test_id("signin-login").fill(name)
    page.get_by_test_id("signin-password").fill("password 12")
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signin-error")).to_have_text("Wrong login or password.")
    assert not site.problems(), site.problems()


def test_sign_in_with_google_lands_signed_in_and_can_write(site: Pages, provider: FakeOidcProvider) -> None:
    provider.person = Person(f"b-{secrets.token_hex(4)}", email=f"g{secrets.token_hex(3)}@example.org",
                             given_name="Guli")
    page = site.open("/account?lang=en#signin", name="google")
    google = page.get_by_test_id("google")
    expect(google).to_have_text("Sign in with Google")
    google.click()  # to the provider, which signs in at once and sends the browser back
    expect(page.locator("body")).to_have_attribute("data-screen", "profile")
    expect(page.get_by_test_id("profile-first_name")).to_have_value("Guli")
    assert page.evaluate("() => document.cookie.includes('lq_csrf_once')") is False
    page.get_by_test_id("profile-last_name").fill("Googled")
    page.get_by_test_id("profile-save").click()  # a write: the adopted CSRF token works
    expect(page.get_by_test_id("flash")).to_have_text("Profile saved.")
    provider.audience = "someone-else"
    try:
        other = site.open("/account?lang=en#signin", name="google-refused")
        other.get_by_test_id("google").click()
        expect(other.get_by_test_id("flash")).to_have_text("Sign-in with Google did not complete. Try again.")
        expect(other.locator("body")).to_have_attribute("data-screen", "signin")
    finally:
        provider.audience = None
    assert not site.problems(), site.problems()


def test_my_games_pages_with_show_more(site: Pages, account_server: ServerProcess) -> None:
    name = f"many_{secrets.token_hex(3)}"
    page = site.open("/favicon.ico", name="many")  # signed up through the API: the page's is tested above
    user_id = register_and_sign_in(page, site.base_url, name, "Many")["user"]["id"]
    db_path = account_server.log_path.parent / "livequiz.db"

    async def write_games() -> None:
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        try:
            for i in range(25):
                await store.record_game(db, store.FinishedGame(
                    game_key=f"{name}:{i}", pin=f"{i:06d}", title=f"Game {i}", host_digest="d" * 64,
                    question_count=1, finished_at=utcnow(), host_user_id=user_id,
                    lines=[store.ResultLine(1, "Solo", 100, 1, 1)],
                ))
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        pool.submit(asyncio.run, write_games()).result()
    page.goto(f"{site.base_url}/account?lang=en#games")
    games = page.get_by_test_id("hosted-game")
    expect(games).to_have_count(20)
    expect(games.first.locator(".h-title")).to_have_text("Game 24")  # newest first
    more = page.get_by_test_id("hosted-more")
    expect(more).to_have_text("Show more")
    more.click()
    expect(games).to_have_count(25)
    expect(games.last.locator(".h-title")).to_have_text("Game 0")
    expect(more).to_be_hidden()
    expect(page.get_by_test_id("played-more")).to_be_hidden()
    assert not site.problems(), site.problems()
