"""Delivering a reset password (PLATFORM.md `POST /api/auth/reset`): by the Telegram bot to a
linked account, else by email over SMTP.

The reset runs after the `202` has been sent, as a background task of the process: the answer
and its timing are the same whether the login names an account or not, and a slow mail server
keeps no request waiting. A message that could not be sent leaves the old password in place
(`persistence.accounts.reset`); the failure is logged and recorded in the audit log.

Telegram is reached with one `sendMessage` call over the Bot API (the `telegram_*` settings),
so any process can send, not only the one running the bot; the user wrote to the bot when they
linked the account, so the bot may message them.
"""

from __future__ import annotations

import asyncio
import logging

from gameserver.mailer import MailError, SmtpConfig, send_mail
from gameserver.settings import Settings
from persistence.accounts import reset
from persistence.db import Database

log = logging.getLogger("livequiz.platform")

SUBJECT = "Your new LiveQuiz password"
TELEGRAM_TIMEOUT_S = 10.0


class DeliveryError(Exception):
    pass


def message_text(planned: reset.PlannedReset) -> str:
    greeting = f"Hello {planned.first_name}," if planned.first_name else "Hello,"
    return (
        f"{greeting}\n\nA new password was requested for your LiveQuiz account.\n\n"
        f"New password: {planned.password}\n\n"
        "Sign in with it and change it on your profile page. Every earlier sign-in has ended.\n"
        "If you did not ask for this, sign in with the new password and change it.\n"
    )


async def send_telegram(settings: Settings, chat_id: str, text: str) -> None:
    if not settings.telegram_token:
        raise DeliveryError("the Telegram bot is not configured (LIVEQUIZ_TELEGRAM_TOKEN)")
    # Imported here: a reset by Telegram is rare, and httpx (with rich, click and pygments
    # behind it) would otherwise be a part of every server's start.
    import httpx

    url = f"{settings.telegram_api_url}{settings.telegram_token}/sendMessage"
    try:
        async with httpx.AsyncClient(timeout=TELEGRAM_TIMEOUT_S) as client:
            response = await client.post(url, json={"chat_id": int(chat_id), "text": text})
        answer = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise DeliveryError(f"Telegram: {error}") from error
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise DeliveryError(f"Telegram refused the message: {response.status_code}")


async def deliver(settings: Settings, planned: reset.PlannedReset) -> None:
    text = message_text(planned)
    if planned.channel == "telegram":
        await send_telegram(settings, planned.address, text)
    else:
        try:
            await send_mail(SmtpConfig.from_settings(settings), planned.address, SUBJECT, text)
        except MailError as error:
            raise DeliveryError(str(error)) from error


async def run_reset(db: Database, settings: Settings, login: str, ip: str) -> None:
    """Plan, deliver, apply; never raises (it runs with nobody waiting for it)."""
    try:
        planned = await reset.plan(db, login, ip=ip)
        if planned is None:
            return
        try:
            await deliver(settings, planned)
        except DeliveryError as error:
            log.warning("password reset for user %s not delivered: %s", planned.user_id, error)
            await reset.undeliverable(db, planned, ip=ip)
            return
        await reset.apply(db, planned, ip=ip)
    except Exception:
        log.exception("password reset failed")


def start_reset(tasks: set[asyncio.Task[None]], db: Database, settings: Settings, login: str, ip: str) -> None:
    """Run the reset in the background; `tasks` keeps it referenced until it ends."""
    task = asyncio.create_task(run_reset(db, settings, login, ip), name="password-reset")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
