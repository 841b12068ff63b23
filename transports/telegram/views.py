"""What one chat knows of its game's questions, and the Telegram requests that show them.

A `QuestionView` is built from the `question` message and completed by `reveal` and
`leaderboard`; `posted_mono` is when the request that showed it returned, the zero of every
Telegram player's answer time for that question.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode

from transports.telegram import callbacks, texts
from transports.telegram.outbox import Outgoing

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


@dataclass
class QuestionView:
    index: int
    total: int
    text: str
    options: list[str]
    time_limit_ms: int
    deadline_ms: int
    posted_mono: float | None = None  # when sendPoll / sendMessage returned
    message_id: int | None = None
    poll_id: str | None = None
    open_period_s: int | None = None
    poll_closes_mono: float | None = None
    answered: set[int] = field(default_factory=set)  # Telegram user ids that answered here
    closed: bool = False
    correct: int | None = None
    distribution: list[int] = field(default_factory=list)
    you: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    top: list[Mapping[str, Any]] | None = None

    @property
    def opened_ms(self) -> int:
        """When the question opened on the server clock: the deadline minus the time limit."""
        return self.deadline_ms - self.time_limit_ms

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> QuestionView:
        return cls(
            index=int(message["question"]),
            total=int(message["total"]),
            text=str(message["text"]),
            options=[str(o) for o in message["options"]],
            time_limit_ms=int(message["time_limit_ms"]),
            deadline_ms=int(message["deadline"]),
        )

    def received_ms(self, received_mono: float) -> int:
        """The server-clock time an answer counts as received at: the question's opening plus
        how long after the question reached Telegram our server got the answer."""
        assert self.posted_mono is not None
        return self.opened_ms + max(0, round((received_mono - self.posted_mono) * 1000))


def markup_key(markup: InlineKeyboardMarkup | None) -> str:
    return "" if markup is None else json.dumps(markup.to_dict(), sort_keys=True)


def content(text: str, markup: InlineKeyboardMarkup | None) -> Hashable:
    return (text, markup_key(markup))


def join_keyboard(pin: str, tag: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("✋ Join", callback_data=callbacks.join_data(pin, tag))]])


def answer_keyboard(pin: str, tag: str, view: QuestionView) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(texts.button_label(i, o), callback_data=callbacks.answer_data(pin, tag, view.index, i))]
        for i, o in enumerate(view.options)
    ]
    return InlineKeyboardMarkup(rows)


def send_text(bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> Outgoing:
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


def send_quiz_poll(bot: Bot, chat_id: int, view: QuestionView, correct: int, open_period_s: int) -> Outgoing:
    return Outgoing(
        call=lambda: bot.send_poll(
            chat_id,
            texts.poll_question(view.index, view.total, view.text),
            texts.poll_options(view.options),
            type="quiz",
            is_anonymous=False,
            allows_multiple_answers=False,
            correct_option_ids=[correct],  # type: ignore[list-item]  # PTB types it as a Literal 0..11
            open_period=open_period_s,
        )
    )


def stop_poll(bot: Bot, chat_id: int, message_id: int) -> Outgoing:
    return Outgoing(call=lambda: bot.stop_poll(chat_id, message_id))


def here(you: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, personal fields) of this chat's players, in the order they joined."""
    return [(name, you[player_id]) for player_id, name in names.items() if player_id in you]


def results_text(view: QuestionView, names: Mapping[str, str]) -> str:
    correct = view.correct if view.correct is not None else -1
    top: Sequence[Mapping[str, Any]] = view.top or []
    return texts.results(view.index, view.total, view.options, correct, view.distribution, top, here(view.you, names))
