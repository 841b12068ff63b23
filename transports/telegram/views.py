"""What one chat knows of its game's questions, and the Telegram requests that show them.

A `QuestionView` is built from the `question` message and completed by `reveal` and
`leaderboard`. Its clock is the server's: `opens_ms` (answers open; the `opens_at` of a "get
ready" lead-in, else the deadline minus the time limit) and `deadline_ms`. A Telegram answer is
stamped when our server received the update, like any other; when the question reached
Telegram plays no part in scoring.

A question is shown as a quiz poll (polling mode, when `texts.fits_a_poll`) or as a text
message with answer buttons; a text message becomes its own results when the question closes.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode

from transports.telegram import callbacks, texts
from transports.telegram.outbox import Outgoing

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
#: What a message may carry: answer buttons, or (a new message only) a request to reply to it.
Markup = InlineKeyboardMarkup | ForceReply


@dataclass
class QuestionView:
    index: int
    total: int
    text: str
    options: list[str]
    time_limit_ms: int
    deadline_ms: int
    opens_ms: int = 0
    as_poll: bool = False  # a quiz poll, else a message with answer buttons
    posted_mono: float | None = None  # when sendPoll / sendMessage returned
    message_id: int | None = None
    poll_id: str | None = None
    poll_closes_ms: int | None = None  # when Telegram closes the poll (server clock)
    folded: bool = False  # posted after it closed, with its results: nothing more to send
    answered: set[int] = field(default_factory=set)  # Telegram user ids that answered here
    closed: bool = False
    correct: int | None = None
    distribution: list[int] = field(default_factory=list)
    you: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    top: list[Mapping[str, Any]] | None = None

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> QuestionView:
        deadline, limit = int(message["deadline"]), int(message["time_limit_ms"])
        opens = message.get("opens_at")
        return cls(
            index=int(message["question"]),
            total=int(message["total"]),
            text=str(message["text"]),
            options=[str(o) for o in message["options"]],
            time_limit_ms=limit,
            deadline_ms=deadline,
            opens_ms=int(opens) if isinstance(opens, int) else deadline - limit,
        )


def markup_key(markup: Markup | None) -> str:
    return "" if markup is None else json.dumps(markup.to_dict(), sort_keys=True)


def content(text: str, markup: Markup | None) -> Hashable:
    return (text, markup_key(markup))


def join_keyboard(pin: str, tag: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("✋ Join", callback_data=callbacks.join_data(pin, tag))]])


def answer_keyboard(pin: str, tag: str, view: QuestionView) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(texts.button_label(i, o), callback_data=callbacks.answer_data(pin, tag, view.index, i))]
        for i, o in enumerate(view.options)
    ]
    return InlineKeyboardMarkup(rows)


def send_text(bot: Bot, chat_id: int, text: str, markup: Markup | None = None) -> Outgoing:
    return Outgoing(
        call=lambda: bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        ),
        content=content(text, markup),
    )


def edit_text(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> Outgoing:
    return Outgoing(
        call=lambda: bot.edit_message_text(
            text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=markup,
            link_preview_options=NO_PREVIEW,
        ),
        edits=message_id,
        content=content(text, markup),
    )


def send_quiz_poll(
    bot: Bot, chat_id: int, view: QuestionView, correct: int, *, close_date: int | None, open_period: int | None
) -> Outgoing:
    """A quiz poll that Telegram closes itself: at `close_date` (unix seconds) or after
    `open_period` seconds. Voters see how the group voted only once it closed."""
    return Outgoing(
        call=lambda: bot.send_poll(
            chat_id,
            texts.poll_question(view.index, view.total, view.text),
            texts.poll_options(view.options),
            type="quiz",
            is_anonymous=False,
            allows_multiple_answers=False,
            correct_option_ids=[correct],  # type: ignore[list-item]  # PTB types it as a Literal 0..11
            close_date=close_date,
            open_period=open_period,
            hide_results_until_closes=True,
        )
    )


def stop_poll(bot: Bot, chat_id: int, message_id: int) -> Outgoing:
    return Outgoing(call=lambda: bot.stop_poll(chat_id, message_id))


def here(you: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, personal fields) of this chat's players, in the order they joined."""
    return [(name, you[player_id]) for player_id, name in names.items() if player_id in you]


def revealed_text(view: QuestionView, names: Mapping[str, str]) -> str:
    correct = view.correct if view.correct is not None else -1
    return texts.revealed(
        view.index, view.total, view.text, view.options, correct, view.distribution, view.top or [],
        here(view.you, names),
    )


def results_text(view: QuestionView, names: Mapping[str, str]) -> str:
    correct = view.correct if view.correct is not None else -1
    top: Sequence[Mapping[str, Any]] = view.top or []
    return texts.results(view.index, view.total, view.options, correct, view.distribution, top, here(view.you, names))
