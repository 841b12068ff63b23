"""A `livequiz serve` process imports the Telegram bridge (python-telegram-bot, `transports.
telegram`, the solo exams' bot) only when its settings configure a bot: without one it never
holds them, and still answers the bridge's routes as before (`telegram_off`); with one it has
imported them before it serves and drives the bot, exams commands included
(`gameserver.telegram_wiring`). Likewise "Sign in with Google" (`gameserver.platform.oidc`):
joserfc and httpx (with rich, click and pygments behind it) are loaded by its first sign-in, so
a process without Google configured never holds them.

What a real serving process imported is read from its own `-X importtime` report (the
`PYTHONPROFILEIMPORTTIME` variable), which lists every module it loaded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeTelegram
from tests.support import ServerProcess, create_game, start_server

#: The bridge's modules; none of them may be loaded without a bot.
BRIDGE = ("telegram", "transports.telegram", "gameserver.platform.exams_bot")
#: What Google sign-in (and a password reset sent by Telegram) use; none loaded without Google.
SIGN_IN_LIBRARIES = ("joserfc", "httpx")
PRIVATE_USER = 777


def imported(server: ServerProcess) -> set[str]:
    """The modules the server process (and its migrating child) imported, by their full names."""
    names = set()
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    names.discard("imported package")  # the report's header
    return names


def bridge_modules(names: set[str]) -> list[str]:
    return modules_of(names, BRIDGE)


def modules_of(names: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in packages))


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:  # on its own thread: it keeps serving while the test awaits
        yield fake


async def test_a_serving_process_without_a_bot_or_google_never_imports_the_bridge_or_the_sign_in_libraries(
    tmp_path: Path, redis_url: str,
) -> None:
    env = {"PYTHONPROFILEIMPORTTIME": "1", "LIVEQUIZ_TELEGRAM_TOKEN": "", "LIVEQUIZ_GOOGLE_CLIENT_ID": ""}
    server = start_server(tmp_path / "data", redis_url, env)
    try:
        game = await create_game(server.base_url)
        headers = {"Authorization": f"Bearer {game['host_token']}"}
        async with httpx.AsyncClient() as http:
            info = await http.get(f"{server.base_url}/api/games/{game['pin']}/telegram", headers=headers)
            webhook = await http.post(f"{server.base_url}/telegram/webhook", json={"update_id": 1})
    finally:
        server.stop()
    assert info.status_code == 404 and info.json()["error"]["code"] == "telegram_off", info.text
    assert webhook.status_code == 404
    names = imported(server)
    assert {"gameserver.app", "gameserver.telegram_wiring", "gameserver.platform.oidc"} <= names  # the report is whole
    assert bridge_modules(names) == []
    assert modules_of(names, SIGN_IN_LIBRARIES) == []


async def test_a_serving_process_with_a_bot_imports_the_bridge_at_start_and_drives_it(
    tg: FakeTelegram, tmp_path: Path, redis_url: str,
) -> None:
    env = {
        "PYTHONPROFILEIMPORTTIME": "1", "LIVEQUIZ_TELEGRAM_TOKEN": tg.token, "LIVEQUIZ_TELEGRAM_API_URL": tg.base_url,
    }
    server = start_server(tmp_path / "data", redis_url, env, log_level="info")
    try:
        loaded_at_start = bridge_modules(imported(server))  # ready: the app's start-up is over
        deadline = time.monotonic() + 20
        while "driving the bot" not in server.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the bridge never drove the bot"
            await asyncio.sleep(0.1)
        # The solo exams' commands were registered by their setup hook, run as the bridge started.
        tg.send_text(PRIVATE_USER, tg.user(PRIVATE_USER, "Ann"), "/exams")
        deadline = time.monotonic() + 20
        while not tg.messages(PRIVATE_USER, bot_only=True):
            assert time.monotonic() < deadline, "the bot never answered /exams"
            await asyncio.sleep(0.1)
        replies = [m.text for m in tg.messages(PRIVATE_USER, bot_only=True)]
    finally:
        server.stop()
    assert {"telegram", "transports.telegram", "gameserver.platform.exams_bot"} <= set(loaded_at_start)
    assert len(replies) == 1 and (replies[0] or "").startswith("Exams you may take here"), replies  # the seeded ones
