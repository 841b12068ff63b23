"""The wallet page in real Chromium: a new account sees its welcome bonus and the rates, tops
up with the sandbox code, requests a withdrawal (held at once), and an admin approves it from
the same page; the page in Russian and Uzbek. A server of its own (SQLite).

Accounts register and sign in through the accounts API (its registration grants the welcome
bonus; the sign-up page is tests/browser/test_accounts.py's); the admin is written straight
into the database with a browser session."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.signed_in import DESKTOP_VIEWPORT, register_and_sign_in, run, server_database, user_with_session
from tests.browser.support import Pages, screenshot
from tests.support import ServerProcess, start_server

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def wallet_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[ServerProcess, Path]]:
    data_dir = tmp_path_factory.mktemp("wallet-web")
    server = start_server(data_dir, redis_url)
    yield server, data_dir
    server.stop()


@pytest.fixture
def site(browser: Any, wallet_server: tuple[ServerProcess, Path]) -> Iterator[Pages]:
    pages = Pages(browser, wallet_server[0].base_url)
    yield pages
    pages.close()


def new_account(site: Pages, name: str, **open_options: Any) -> Any:
    """The wallet page of a newly registered account, signed in in a browser of its own."""
    page = site.open("/favicon.ico", name=name, **({"viewport": DESKTOP_VIEWPORT} | open_options))
    register_and_sign_in(page, site.base_url, name, name.title())
    page.goto(site.base_url + "/wallet")
    return page


def user_id_of(page: Any) -> int:
    """The signed-in user's id, as the page's own session sees it."""
    return int(page.evaluate("async () => (await (await fetch('/api/me')).json()).id"))


def admin_wallet(site: Pages, data_dir: Path, username: str) -> Any:
    """The wallet page of an admin account (written into the server's database), signed in."""
    admin = run(user_with_session(server_database(data_dir), username, role="admin"))
    page = site.open("/favicon.ico", name=username, viewport=DESKTOP_VIEWPORT)
    page.context.add_cookies([{"name": "lq_session", "value": admin["session"], "url": site.base_url}])
    page.context.add_init_script(f"localStorage.setItem('lq_csrf', {json.dumps(admin['csrf'])});")
    page.goto(site.base_url + "/wallet")
    return page


def test_topup_withdrawal_and_admin_approval(site: Pages, wallet_server: tuple[ServerProcess, Path]) -> None:
    user = "wal_" + secrets.token_hex(3)
    page = new_account(site, user)
    expect(page.get_by_test_id("balance-bonus")).to_have_text("5,000 so'm")
    expect(page.get_by_test_id("balance-main")).to_have_text("0 so'm")
    expect(page.get_by_test_id("rates")).to_contain_text("20%")
    expect(page.get_by_test_id("history-row")).to_have_count(1)

    page.get_by_test_id("topup-amount").fill("20 000")
    page.get_by_test_id("topup-submit").click()
    expect(page.get_by_test_id("sandbox-otp")).to_be_visible()
    code = page.get_by_test_id("sandbox-otp").inner_text().split("code is ")[1][:6]
    page.get_by_test_id("topup-otp").fill("000000" if code != "000000" else "111111")
    page.get_by_test_id("otp-confirm").click()
    expect(page.get_by_test_id("topup-error")).to_have_text("The code is not right.")
    page.get_by_test_id("topup-otp").fill(code)
    page.get_by_test_id("otp-confirm").click()
    expect(page.get_by_test_id("balance-main")).to_have_text("20,000 so'm")
    expect(page.get_by_test_id("flash")).to_contain_text("20,000 so'm added")

    page.get_by_test_id("withdraw-amount").fill("30000")
    page.get_by_test_id("withdraw-card").fill("4111 1111 1111 1111")
    page.get_by_test_id("withdraw-submit").click()
    expect(page.get_by_test_id("withdraw-error")).to_have_text("Not enough money on the balance for this.")
    page.get_by_test_id("withdraw-amount").fill("10000")
    expect(page.get_by_test_id("withdraw-preview")).to_contain_text("9,500 so'm")
    page.get_by_test_id("withdraw-submit").click()
    expect(page.get_by_test_id("balance-held")).to_have_text("10,000 so'm")
    expect(page.get_by_test_id("balance-main")).to_have_text("10,000 so'm")
    expect(page.get_by_test_id("admin")).to_be_hidden()
    screenshot(page, "wallet-user")

    boss = "boss_" + secrets.token_hex(3)
    admin_page = admin_wallet(site, wallet_server[1], boss)
    item = admin_page.get_by_test_id("pending-item").filter(has_text="•••• 1111").first
    expect(item).to_contain_text("9,500 so'm")
    screenshot(admin_page, "wallet-admin")
    item.get_by_test_id("approve").click()
    expect(admin_page.get_by_test_id("flash")).to_contain_text("approved")
    admin_page.get_by_test_id("ledger-user").fill(str(user_id_of(page)))
    admin_page.get_by_test_id("ledger-submit").click()
    expect(admin_page.get_by_test_id("ledger-balances")).to_contain_text("Main 10,000 so'm")
    expect(admin_page.get_by_test_id("ledger").get_by_test_id("history-row").first).to_contain_text(
        "Withdrawal paid out")

    page.reload()
    expect(page.get_by_test_id("balance-held")).to_have_text("0 so'm")
    expect(page.get_by_test_id("history-row").first).to_contain_text("Withdrawal paid out")
    assert not site.problems(), site.problems()


@pytest.mark.parametrize(("lang", "main_label"), [("ru", "Основной баланс"), ("uz", "Asosiy balans")])
def test_the_wallet_speaks_russian_and_uzbek(site: Pages, lang: str, main_label: str) -> None:
    page = new_account(site, f"w{lang}_" + secrets.token_hex(3))
    page.goto(site.base_url + f"/wallet?lang={lang}")
    expect(page.locator(".balance").first).to_contain_text(main_label)
    expect(page.get_by_test_id("history-row")).to_have_count(1)
    assert not site.problems(), site.problems()


def test_signed_out_visitors_are_sent_to_sign_in(site: Pages) -> None:
    page = site.open("/wallet", name="visitor", viewport=DESKTOP_VIEWPORT)
    expect(page.get_by_test_id("signed-out")).to_be_visible()
    assert "/account?next=/wallet" in page.get_by_test_id("signed-out").locator("a").get_attribute("href")
