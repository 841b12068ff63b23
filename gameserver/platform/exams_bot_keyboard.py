"""How a solo exam's question looks in a private chat with the bot, and what its buttons carry.

A question is one message: a header, the question, its numbered options, how to answer; and
- `select_one`: a button per option; a press answers;
- `select_many`: a toggle button per option, ✓ on the ticked ones, and a Done button that
  answers with the ticked ones;
- `text` / `free`: no buttons but ForceReply: the client opens a reply, whose text answers.
`/a ANSWER` answers any of them too (the fallback of clients without buttons).

`callback_data` (1-64 bytes, sent back verbatim by any client however stale) is
`e:<attempt id>:<question position>:<action>`, at most 27 bytes: the action is an option's
index (choose, or tick/untick) or `d` (Done). Naming the attempt and the question lets a press
on an earlier question's button, or on someone else's attempt, be recognised and refused.

Ticks live in Redis, a bit per option flipped atomically (BITFIELD ... INCRBY u1 with WRAP),
not in the buttons: two quick taps both count, and the keyboard edit reads the newest ticks
when its turn comes in the chat's outbox, so a burst of taps is one edit, never a lost tick.
The bot's question messages are remembered (message id -> attempt and position) so a reply
says which question it answers. Both keys expire after a day.

Sizes: a message is at most 4096 characters; options are at most 10 of 300 characters, so the
question's text is shortened to what they leave (and what may lead it: `MAX_QUESTION`). Button
labels are cut to `LABEL_CHARS`.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis, RedisCluster
from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message

from gameserver.atomic import AtomicBatch
from transports.telegram.bridge import TelegramBridge
from transports.telegram.outbox import Op, Outgoing, Priority
from transports.telegram.views import Markup, send_text

PREFIX = "e:"
DONE = "d"
_PRESS_RE = re.compile(r"^e:([0-9]{1,12}):([0-9]{1,3}):([0-9]{1,2}|d)$")
MAX_TEXT = 4000  # Telegram's 4096, with a margin
# A question leaves room for what may lead it in the same message: the exam's title when it
# starts (<= 200 characters), a trainer's verdict (the right answer cut to 300), a refusal.
MAX_QUESTION = MAX_TEXT - 500
LABEL_CHARS = 40
KEY_TTL_S = 24 * 3600
TICK = "✓ "


@dataclass(frozen=True)
class ExamPress:
    attempt_id: int
    n: int  # the question's position in the exam
    option: int | None  # None: Done


def press_data(attempt_id: int, n: int, option: int | None) -> str:
    data = f"{PREFIX}{attempt_id}:{n}:{DONE if option is None else option}"
    if not _PRESS_RE.match(data):
        raise ValueError(f"not a valid exam button: {data!r}")
    return data


def parse_press(data: str) -> ExamPress | None:
    match = _PRESS_RE.match(data)
    if match is None:
        return None
    return ExamPress(int(match[1]), int(match[2]), None if match[3] == DONE else int(match[3]))


@dataclass(frozen=True)
class Prompt:
    """A message to send: its HTML, its markup, and the question it asks (attempt id, position)."""

    text: str
    markup: Markup | None = None
    asks: tuple[int, int] | None = None

    def after(self, prefix: str) -> Prompt:
        return Prompt(prefix + self.text, self.markup, self.asks)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _how(kind: str) -> str:
    if kind == "select_one":
        return "Press the right answer (or send /a NUMBER)."
    if kind == "select_many":
        return "Tick every right answer, then press Done (or send /a NUMBERS, e.g. /a 1 3)."
    return "Reply to this message with your answer (or send /a YOUR ANSWER)."


def question_prompt(attempt_id: int, question: dict[str, Any], n: int, index: int, total: int) -> Prompt:
    kind = question["type"]
    options = [f"{i + 1}) {shorten(o, 300)}" for i, o in enumerate(question.get("options", []))]
    header, how = f"Question {index + 1} of {total}", _how(kind)
    room = MAX_QUESTION - len(header) - len(how) - sum(len(o) + 1 for o in options) - 8
    lines = [header, f"<b>{html.escape(shorten(question['text'], max(room, 20)))}</b>"]
    lines += [html.escape(o) for o in options]
    lines.append(how)
    return Prompt("\n".join(lines), markup(attempt_id, n, question, set()), (attempt_id, n))


def markup(attempt_id: int, n: int, question: dict[str, Any], ticked: set[int]) -> Markup:
    kind = question["type"]
    if kind not in ("select_one", "select_many"):
        return ForceReply(input_field_placeholder="Your answer")
    rows = []
    for i, option in enumerate(question["options"]):
        mark = TICK if kind == "select_many" and i in ticked else ""
        label = mark + shorten(f"{i + 1}. {option}", LABEL_CHARS)
        rows.append([InlineKeyboardButton(label, callback_data=press_data(attempt_id, n, i))])
    if kind == "select_many":
        rows.append([InlineKeyboardButton("Done ✔", callback_data=press_data(attempt_id, n, None))])
    return InlineKeyboardMarkup(rows)


# -- state in Redis ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BotState:
    """Redis, with the key prefix of one database's exams: a deployment's processes share both,
    and a Redis serving several databases (as tests do) keeps their attempts apart."""

    redis: Redis | RedisCluster
    prefix: str

    @classmethod
    def of(cls, redis: Redis | RedisCluster, db_url: str, schema: str | None) -> BotState:
        where = hashlib.sha256(f"{db_url}|{schema or ''}".encode()).hexdigest()[:12]  # never the URL itself
        return cls(redis, f"livequiz:examsbot:{where}:")

    def ticks_key(self, attempt_id: int, n: int) -> str:
        return f"{self.prefix}ticks:{attempt_id}:{n}"

    def message_key(self, chat_id: int, message_id: int) -> str:
        return f"{self.prefix}msg:{chat_id}:{message_id}"

    def claim_key(self, attempt_id: int, n: int) -> str:
        return f"{self.prefix}answering:{attempt_id}:{n}"


async def toggle(state: BotState, attempt_id: int, n: int, option: int) -> None:
    key = state.ticks_key(attempt_id, n)
    operation = state.redis.bitfield(key)  # type: ignore[misc]  # typed for Redis; a cluster builds it too
    operation.incrby("u1", f"#{option}", 1)  # Redis wraps by default: 1 + 1 is 0, an untick
    batch = AtomicBatch(state.redis, [key])
    batch.execute_command(*operation.command)
    batch.expire(key, KEY_TTL_S)
    await batch.execute()


async def ticks(state: BotState, attempt_id: int, n: int) -> set[int]:
    raw: bytes = await state.redis.get(state.ticks_key(attempt_id, n)) or b""
    return {i for i in range(len(raw) * 8) if raw[i // 8] >> (7 - i % 8) & 1}  # Redis bits: big-endian


async def asked_by(state: BotState, chat_id: int, message_id: int) -> tuple[int, int] | None:
    """The (attempt id, position) a bot message in this chat asked, if it was a question."""
    raw = await state.redis.get(state.message_key(chat_id, message_id))
    if raw is None:
        return None
    attempt_id, _, n = raw.decode().partition(":")
    return int(attempt_id), int(n)


# -- sending -----------------------------------------------------------------------------------


def show(bridge: TelegramBridge, state: BotState, chat_id: int, prompt: Prompt) -> None:
    """Send the prompt through the chat's outbox; a question's message is remembered."""
    asks = prompt.asks

    async def note(message_id: int, attempt_id: int, n: int) -> None:
        await state.redis.set(state.message_key(chat_id, message_id), f"{attempt_id}:{n}", ex=KEY_TTL_S)

    def remember(result: Any, _when: float) -> None:
        if asks is not None and isinstance(result, Message):
            bridge.spawn(note(result.message_id, *asks))

    outgoing = send_text(bridge.bot, chat_id, prompt.text, prompt.markup)

    async def render() -> Outgoing:
        return outgoing

    bridge.outbox(chat_id).put(Op(Priority.NORMAL, render, on_done=remember))


def retick(bridge: TelegramBridge, state: BotState, chat_id: int, message_id: int, question: dict[str, Any],
           attempt_id: int, n: int) -> None:
    """Show the newest ticks on a select_many question's buttons (taps in a burst: one edit)."""
    bot = bridge.bot

    async def render() -> Outgoing:
        keyboard = markup(attempt_id, n, question, await ticks(state, attempt_id, n))
        assert isinstance(keyboard, InlineKeyboardMarkup)
        return Outgoing(call=lambda: bot.edit_message_reply_markup(chat_id, message_id, reply_markup=keyboard))

    bridge.outbox(chat_id).put(Op(Priority.NORMAL, render, key=("exam-question", message_id)))


def close(bridge: TelegramBridge, chat_id: int, message_id: int, shown_html: str, answer: str) -> None:
    """An answered question's message: its buttons go, the answer is said under it. Background
    work: the next question goes first, and this edit may wait for the chat's budget."""
    bot = bridge.bot
    text = f"{shown_html}\n\n✔ Your answer: {html.escape(shorten(answer, 300))}"
    fits = shown_html and len(text) <= MAX_TEXT

    async def render() -> Outgoing:
        if fits:
            return Outgoing(call=lambda: bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                                               parse_mode="HTML"))
        return Outgoing(call=lambda: bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None))

    bridge.outbox(chat_id).put(Op(Priority.BACKGROUND, render, key=("exam-question", message_id)))
