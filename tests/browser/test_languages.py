"""Every language renders the lobby (host and player) with no missing string; the language comes
from ?lang=, else the `lang` cookie (kept 1 year), else the browser's language."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import RAW_KEY, ROOT, Pages, WebServer, quiz

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

LANGS = {"en": "en", "ru": "ru", "uz": "uz-Latn"}


def table(lang: str) -> dict[str, str]:
    path = ROOT / "gameserver" / "static" / "i18n" / f"{lang}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def visible_texts(page: Any) -> list[str]:
    """Text of every visible leaf element plus the translated attributes."""
    return list(
        page.evaluate(
            """() => {
            const out = [];
            for (const el of document.querySelectorAll('body *')) {
              if (!el.checkVisibility || !el.checkVisibility()) continue;
              for (const n of el.childNodes) {
                if (n.nodeType === 3 && n.textContent.trim()) out.push(n.textContent.trim());
              }
              for (const a of ['placeholder', 'aria-label', 'title', 'alt']) {
                if (el.getAttribute(a)) out.push(el.getAttribute(a));
              }
            }
            out.push(document.title);
            return out;
          }"""
        )
    )


def assert_all_translated(page: Any, lang: str) -> None:
    strings = table(lang)
    expect(page.locator("html")).to_have_attribute("lang", LANGS[lang])
    raw = [t for t in visible_texts(page) if RAW_KEY.match(t)]
    assert not raw, f"{lang}: untranslated keys shown: {raw}"
    # Read in one call (a round trip per element would be ~120 of them on the host page).
    keyed = page.locator("[data-i18n]").evaluate_all("els => els.map((el) => [el.dataset.i18n, el.textContent])")
    assert keyed, f"{lang}: no element has data-i18n"
    for key, text in keyed:
        assert key in strings, (lang, key)
        assert text == strings[key], (lang, key, text)


@pytest.mark.parametrize("lang", list(LANGS))
def test_lobby_renders_in_every_language(pages: Pages, web_server: WebServer, lang: str) -> None:
    strings = table(lang)
    game = web_server.create_game(quiz("Til / Язык / Language", [("2 + 2 = ?", ["3", "4"], 1)]))
    pin, token = game["pin"], game["host_token"]
    host = pages.open(f"/host?pin={pin}&lang={lang}#token={token}", name=f"host-{lang}")
    expect(host.get_by_test_id("pin")).to_have_text(pin)
    player = pages.open(f"/play?pin={pin}&lang={lang}", name=f"player-{lang}", phone=True)
    expect(player.get_by_test_id("join")).to_have_text(strings["play.join.button"])
    assert_all_translated(player, lang)
    player.get_by_test_id("name-input").fill("Malika")
    player.get_by_test_id("join").click()
    expect(player.get_by_test_id("status")).to_have_text(strings["play.status.wait"])
    expect(host.get_by_test_id("player-count")).to_have_text("1")
    expect(host.get_by_test_id("start")).to_have_text(strings["host.lobby.start"])
    expect(host.get_by_test_id("lock")).to_have_text(strings["host.lobby.lock"])
    expect(host.locator("#conn")).to_have_text(strings["conn.online"])
    assert_all_translated(host, lang)
    assert_all_translated(player, lang)
    assert not pages.problems(), pages.problems()


def test_language_from_browser_cookie_and_query(pages: Pages, web_server: WebServer) -> None:
    ru, uz, en = table("ru"), table("uz"), table("en")
    page = pages.open("/play", name="ru-browser", phone=True, locale="ru-RU")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_test_id("join")).to_have_text(ru["play.join.button"])
    assert not [c for c in page.context.cookies() if c["name"] == "lang"], "detection alone sets no cookie"

    # The switcher changes the page at once and remembers the choice for a year.
    page.get_by_test_id("lang").select_option("uz")
    expect(page.locator("html")).to_have_attribute("lang", "uz-Latn")
    expect(page.get_by_test_id("join")).to_have_text(uz["play.join.button"])
    cookie = next(c for c in page.context.cookies() if c["name"] == "lang")
    assert cookie["value"] == "uz"
    assert 360 * 86400 < cookie["expires"] - time.time() <= 366 * 86400
    page.reload()
    expect(page.get_by_test_id("join")).to_have_text(uz["play.join.button"])

    # The host page in the same browser follows the cookie; ?lang= forces another language.
    page.goto(f"{web_server.base_url}/host")
    expect(page.get_by_test_id("create")).to_have_text(uz["host.setup.create"])
    page.goto(f"{web_server.base_url}/host?lang=en")
    expect(page.get_by_test_id("create")).to_have_text(en["host.setup.create"])
    assert_all_translated(page, "en")
    assert not pages.problems(), pages.problems()
