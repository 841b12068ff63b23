"""The host lobby's Telegram link, in real Chromium: it is the bot's deep link, and opening it in a
private chat makes the host the game's Telegram host (the first step of the /quiz flow)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS
from tests.fakes import FakeTelegram
from tests.support import create_game, quiz
from tests.telegram.support import HOST_USER, live_server, make_settings, wait_until


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium")
async def test_host_lobby_shows_the_bots_deep_link(redis_url: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    async with FakeTelegram() as tg, live_server(lambda port: make_settings(tg, redis_url, tmp_path)) as server:
        game = await create_game(server.base_url, quiz(1))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{server.base_url}/host?pin={game['pin']}#token={quote(game['host_token'])}")
                link = page.get_by_test_id("telegram-link")
                await link.wait_for(state="visible", timeout=10_000)
                href = await link.get_attribute("href")
                assert await link.inner_text() == "Telegram"
            finally:
                await browser.close()
        assert href is not None and href.startswith(f"https://t.me/{tg.bot_username}?start=h{game['pin']}")
        # what Telegram does with the link: /start <payload> in a private chat with the bot
        tg.send_text(HOST_USER, tg.user(HOST_USER, "Host"), f"/start {href.split('?start=', 1)[1]}")
        await wait_until(lambda: any("You host game" in (m.text or "") for m in tg.messages(HOST_USER)))
