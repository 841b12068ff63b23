"""`POST /api/auth/reset` and the Telegram link against a real server process, a local SMTP
server (aiosmtpd) and the fake Bot API, on SQLite and PostgreSQL: `/link CODE` sent to the bot
links the account; reset answers 202 always; the new password reaches the linked Telegram
account, else the email; it works, the old one and every session end; a message that cannot
be delivered changes nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from persistence.accounts import audit, telegram
from persistence.db import Database
from tests.accounts_support import accounts_server, backends, bearer, client, register
from tests.fakes.telegram_api import FakeTelegram
from tests.sql_support import SqlTarget
from tests.support import ServerProcess, free_port

PASSWORD_LINE = re.compile(r"New password: (\S+)")


class Mailbox:
    """An aiosmtpd handler that keeps every mail; recipients starting `bounce` are refused."""

    def __init__(self) -> None:
        self.mails: list[Message] = []
        self.port = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("bounce"):
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [mail for mail in self.mails if mail["To"] == address]


@pytest.fixture(scope="module", params=backends())
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with SqlTarget.prepared(request.param, tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def mailbox(target: SqlTarget) -> Iterator[Mailbox]:  # one per backend: each run reads its own mail
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def bot(target: SqlTarget) -> Iterator[FakeTelegram]:
    with FakeTelegram(threaded=True) as tg:
        yield tg


@pytest.fixture(scope="module")
def server(target: SqlTarget, mailbox: Mailbox, bot: FakeTelegram, tmp_path_factory: pytest.TempPathFactory,
           redis_url: str) -> Iterator[ServerProcess]:
    env = {
        "LIVEQUIZ_SMTP_HOST": "127.0.0.1", "LIVEQUIZ_SMTP_PORT": str(mailbox.port),
        "LIVEQUIZ_SMTP_STARTTLS": "false", "LIVEQUIZ_SMTP_FROM": "noreply@livequiz.test",
        "LIVEQUIZ_TELEGRAM_TOKEN": bot.token, "LIVEQUIZ_TELEGRAM_API_URL": bot.base_url,
    }
    with accounts_server(target, tmp_path_factory.mktemp("server"), redis_url, env) as process:
        yield process


async def eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("nothing arrived")
        await asyncio.sleep(0.1)


async def audit_actions(target: SqlTarget, user_id: int) -> list[str]:
    db = Database(target.url, schema=target.schema)
    try:
        async with db.session() as session:
            return [e.action for e in await audit.entries(session, limit=50, user_id=user_id)]
    finally:
        await db.dispose()


async def reset(server: ServerProcess, login: str) -> tuple[int, Any]:
    async with client(server) as http:
        response = await http.post("/api/auth/reset", json={"login": login})
    return response.status_code, response.json()


async def login_status(server: ServerProcess, login: str, password: str) -> int:
    async with client(server) as http:
        return (await http.post("/api/auth/login", json={"login": login, "password": password})).status_code


async def test_reset_mails_a_new_password_that_replaces_the_old_and_ends_sessions(
    server: ServerProcess, mailbox: Mailbox,
) -> None:
    made = await register(server, "mail_reset", email="mail.reset@example.org")
    unknown = await reset(server, "nobody_has_this")
    known = await reset(server, "mail_reset")
    assert unknown == known == (202, {"status": "accepted"})  # the same answer either way
    mails = await eventually(lambda: mailbox.to("mail.reset@example.org"))
    assert len(mails) == 1 and mails[0]["From"] == "noreply@livequiz.test"
    match = PASSWORD_LINE.search(mails[0].get_payload(decode=True).decode())
    assert match is not None
    await eventually(lambda: _is_401_token(server, made["token"]))  # stored once the mail was sent
    assert await login_status(server, "mail_reset", "password 12") == 401
    assert await login_status(server, "mail.reset@example.org", match.group(1)) == 200


async def test_link_code_sent_to_the_bot_links_the_account(server: ServerProcess, bot: FakeTelegram) -> None:
    made = await register(server, "tg_linker")
    async with client(server, headers=bearer(made["token"])) as http:
        code = (await http.post("/api/me/telegram")).json()["code"]
        user = bot.user(5151, "Lin")
        bot.send_text(5151, user, "/start", "private")
        bot.send_text(-100777, user, f"/link {code}", "supergroup")  # never in a group
        bot.send_text(5151, user, "/link WRONG234", "private")
        bot.send_text(5151, user, f"/link {code}", "private")
        replies = await eventually(lambda: [m.text for m in bot.messages(5151, bot_only=True)
                                            if m.text and "linked" in m.text])
        assert replies == ["Your Telegram account is now linked to your LiveQuiz account."]
        texts = [m.text or "" for m in bot.messages(5151, bot_only=True)]
        assert any("code is wrong" in text for text in texts)
        assert any("private chat" in (m.text or "") for m in bot.messages(-100777, bot_only=True))
        assert (await http.get("/api/me")).json()["telegram_id"] == 5151


async def test_reset_goes_to_the_linked_telegram_account_first(
    server: ServerProcess, mailbox: Mailbox, bot: FakeTelegram, target: SqlTarget,
) -> None:
    made = await register(server, "tg_reset", email="tg.reset@example.org")
    async with client(server, headers=bearer(made["token"])) as http:
        code = (await http.post("/api/me/telegram")).json()["code"]
    bot.send_text(4242, bot.user(4242, "Tia"), "/start", "private")  # the user opened the bot
    db = Database(target.url, schema=target.schema)
    try:
        assert await telegram.link_telegram(db, code, 4242)
    finally:
        await db.dispose()
    assert await reset(server, "tg_reset") == (202, {"status": "accepted"})
    texts = await eventually(lambda: [m.text for m in bot.messages(4242, bot_only=True)
                                      if m.text and "New password" in m.text])
    match = PASSWORD_LINE.search(texts[0])
    assert match is not None
    await eventually(lambda: _is_401_token(server, made["token"]))
    assert await login_status(server, "tg_reset", match.group(1)) == 200
    assert mailbox.to("tg.reset@example.org") == []


async def _is_401_token(server: ServerProcess, token: str) -> bool:
    async with client(server, headers=bearer(token)) as http:
        return (await http.get("/api/me")).status_code == 401


async def test_a_mail_that_cannot_be_delivered_changes_nothing(server: ServerProcess, target: SqlTarget) -> None:
    made = await register(server, "bounced", email="bounce.me@example.org")
    assert await reset(server, "bounced") == (202, {"status": "accepted"})
    actions = await eventually(lambda: _has_undeliverable(target, made["user"]["id"]))
    assert "password.reset" not in actions
    assert await login_status(server, "bounced", "password 12") == 200
    async with client(server, headers=bearer(made["token"])) as http:
        assert (await http.get("/api/me")).status_code == 200


async def _has_undeliverable(target: SqlTarget, user_id: int) -> list[str] | None:
    actions = await audit_actions(target, user_id)
    return actions if "password.reset.undeliverable" in actions else None
