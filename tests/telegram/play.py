"""Playing from the Telegram side of the fake: find what the bot posted, join, vote, press."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tests.fakes import Call, FakeTelegram
from tests.telegram.support import LiveServer, wait_until
from transports.telegram.callbacks import AnswerPress, JoinPress, parse_press


@dataclass
class Posted:
    """A question as the bot showed it in the chat."""

    question: int
    message_id: int
    call: Call  # the request that posted it (arrival time on the fake's side)
    poll_id: str | None = None


def lobby_button(tg: FakeTelegram, chat_id: int) -> tuple[int, str]:
    """(message id, callback data) of the lobby's Join button."""
    for message in tg.messages(chat_id, bot_only=True):
        for data in message.callback_data:
            if isinstance(parse_press(data), JoinPress):
                return message.message_id, data
    raise AssertionError("no lobby with a Join button")


async def join(tg: FakeTelegram, chat_id: int, user: dict[str, Any]) -> str:
    message_id, data = await wait_until(lambda: _try(lambda: lobby_button(tg, chat_id)), what="lobby")
    query = tg.press_button(chat_id, message_id, user, data)
    answer = await tg.callback_answer(query)
    return answer.text or ""


def _try(fn: Any) -> Any:
    try:
        return fn()
    except AssertionError:
        return None


def _posted_now(tg: FakeTelegram, server: LiveServer, chat_id: int, question: int) -> Posted | None:
    session = server.runtime.bridge.sessions.get(chat_id)
    view = session.questions.get(question) if session else None
    if view is None or view.posted_mono is None or view.message_id is None:
        return None  # the bridge has not seen its send return yet
    method = "sendPoll" if view.poll_id is not None else "sendMessage"
    for call in (c for c in tg.calls_for(method, chat_id) if c.ok):
        if view.poll_id is not None and call.params.get("question", "").startswith(f"{question + 1}/"):
            return Posted(question, view.message_id, call, view.poll_id)
        if view.poll_id is None:
            markup = call.params.get("reply_markup") or {}
            rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
            presses = [parse_press(b.get("callback_data")) for row in rows for b in row]
            if any(isinstance(p, AnswerPress) and p.question == question for p in presses):
                return Posted(question, view.message_id, call)
    return None


async def posted(tg: FakeTelegram, server: LiveServer, chat_id: int, question: int) -> Posted:
    """The question as posted: a quiz poll or a message with answer buttons, whichever the bot chose."""
    result: Posted = await wait_until(
        lambda: _posted_now(tg, server, chat_id, question), timeout=15, what=f"question {question} posted"
    )
    return result


def answer_data(tg: FakeTelegram, chat_id: int, message_id: int, option: int) -> str:
    for data in tg.message(chat_id, message_id).callback_data:
        press = parse_press(data)
        if isinstance(press, AnswerPress) and press.option == option:
            return data
    raise AssertionError(f"message {message_id} has no button for option {option}")


async def answer(
    tg: FakeTelegram, chat_id: int, post: Posted, user: dict[str, Any], option: int
) -> tuple[float, str | None]:
    """Vote (poll) or press (buttons); (when, the toast for a press)."""
    when = time.monotonic()
    if post.poll_id is not None:
        assert tg.vote(post.poll_id, user, [option])
        return when, None
    query = tg.press_button(chat_id, post.message_id, user, answer_data(tg, chat_id, post.message_id, option))
    return when, (await tg.callback_answer(query)).text


def receipt_ms(tg: FakeTelegram, user_id: int, *, poll_id: str | None = None, data: str | None = None) -> float:
    """When the bot received this user's vote (poll_id) or press (data), on the wall clock in ms:
    when the getUpdates answer that carried it left the fake, plus half a round trip."""
    for call in tg.calls_for("getUpdates"):
        for update in call.result or []:
            vote, press = update.get("poll_answer"), update.get("callback_query")
            if poll_id is not None and vote and vote["poll_id"] == poll_id and vote["user"]["id"] == user_id:
                return (call.answered_wall + tg.latency / 2) * 1000
            if data is not None and press and press["data"] == data and press["from"]["id"] == user_id:
                return (call.answered_wall + tg.latency / 2) * 1000
    raise AssertionError(f"no update of user {user_id} was handed to the bot")


async def received_at(tg: FakeTelegram, user_id: int, *, poll_id: str | None = None, data: str | None = None) -> float:
    """`receipt_ms`, once the update was handed to the bot."""

    def found() -> float | None:
        try:
            return receipt_ms(tg, user_id, poll_id=poll_id, data=data)
        except AssertionError:
            return None

    when: float = await wait_until(found, timeout=5, what=f"an update of user {user_id} handed to the bot")
    return when
