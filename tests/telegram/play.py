"""Playing from the Telegram side of the fake: find what the bot posted, join, vote, press."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import anyio._backends._asyncio as anyio_asyncio
import pytest

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


class ServerReceipts:
    """When this process's event loop got the bytes of the getUpdates answer carrying each update:
    the moment our server received it, by its own clock, measured where the bytes come in (anyio's
    stream protocol, which the event loop hands a connection's data to; `install` patches it for
    one test). Measured on the server's side, it leaves out how long the fake (a thread of this
    process, on a busy box) took to get them there, which is not the server's doing."""

    def __init__(self) -> None:
        self._answer_began: dict[int, float] = {}  # connection -> wall time of its answer's first bytes
        self._updates: dict[int, float] = {}  # update id -> wall time its answer began to arrive

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = anyio_asyncio.StreamProtocol.data_received
        began, updates = self._answer_began, self._updates

        def data_received(protocol: anyio_asyncio.StreamProtocol, data: bytes) -> None:
            now = time.time()
            if data.startswith(b"HTTP/"):
                began[id(protocol)] = now
            for found in UPDATE_ID.finditer(data):
                updates.setdefault(int(found.group(1)), began.get(id(protocol), now))
            original(protocol, data)

        monkeypatch.setattr(anyio_asyncio.StreamProtocol, "data_received", data_received)

    def ms(self, update_id: int) -> float:
        """When the update reached the server, in wall-clock ms."""
        assert update_id in self._updates, f"update {update_id} never reached this process"
        return self._updates[update_id] * 1000


UPDATE_ID = re.compile(rb'"update_id":(\d+)')


def carrying(tg: FakeTelegram, user_id: int, *, poll_id: str | None = None, data: str | None = None) -> Carried | None:
    """The getUpdates answer that handed this user's vote (poll_id) or press (data) to the bot."""
    for call in tg.calls_for("getUpdates"):
        for update in call.result or []:
            vote, press = update.get("poll_answer"), update.get("callback_query")
            ours = (poll_id is not None and vote and vote["poll_id"] == poll_id and vote["user"]["id"] == user_id) or (
                data is not None and press and press["data"] == data and press["from"]["id"] == user_id
            )
            if ours and call.delivered_wall:
                return Carried(int(update["update_id"]), call.delivered_wall * 1000)
    return None


@dataclass(frozen=True)
class Carried:
    update_id: int
    sent_ms: float  # when the fake began writing the answer to the bot's connection (wall clock)


async def carried(tg: FakeTelegram, user_id: int, *, poll_id: str | None = None, data: str | None = None) -> Carried:
    """`carrying`, once the update was handed to the bot."""
    found: Carried = await wait_until(
        lambda: carrying(tg, user_id, poll_id=poll_id, data=data), timeout=5,
        what=f"an update of user {user_id} handed to the bot",
    )
    return found
