"""A fake Telegram Bot API server for tests (Bot API 10.x shapes, as python-telegram-bot 22.8 parses them).

Usage inside a pytest-asyncio test::

    async with FakeTelegram() as tg:
        app = (
            ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url).build()
        )
        ...
        tg.send_text(-1001, tg.user(7, "Ann"), "/quiz 123456")
        call = await tg.wait_for_call("sendMessage", chat_id=-1001)

The server is a Starlette app served by uvicorn on 127.0.0.1 on a free port, either as a task on the
running event loop (``async with FakeTelegram()``) or on a private event loop in a background thread
(``with FakeTelegram()`` or ``async with FakeTelegram(threaded=True)``).  Test controls are plain methods;
in threaded mode they are marshalled onto the server loop, so they are safe to call from any thread.

Implemented methods (case-insensitive, any token, JSON / urlencoded / multipart bodies): getMe, logOut,
close, setWebhook, deleteWebhook, getWebhookInfo, getUpdates, sendMessage, editMessageText,
editMessageReplyMarkup, deleteMessage, answerCallbackQuery, sendPoll, stopPoll, getChatMember,
getChatAdministrators.  Anything else answers 404 "Not Found" like Telegram (PTB maps it to InvalidToken).

Fidelity notes:
* ``parse_mode`` HTML and MarkdownV2 / Markdown are rendered to plain text + entities (so ``messages()``
  shows what a user sees), and malformed markup answers 400 "can't parse entities" like Telegram.
* editMessageText without ``reply_markup`` removes the inline keyboard (as Telegram does).
* The bot cannot message a private chat before the user wrote to it (403, "bot can't initiate
  conversation with a user"): use ``send_text(user_id, user, "/start", "private")`` first.
* ``latency`` (seconds, settable at any time) is the round trip of every Bot API call: half of it
  passes before the request "reaches Telegram" (its ``Call.mono``, when limits are checked and
  the call takes effect), half before the answer reaches the bot; a webhook POST leaves half a
  round trip after its update was made.  ``Call.answered_mono`` / ``answered_wall`` say when the
  answer left Telegram, so it reaches the bot ``latency / 2`` later; ``delivered_mono`` /
  ``delivered_wall`` when its first bytes were actually written to the bot's connection.
* ``group_rate_limit=(n, window_s)``: a group or supergroup takes at most ``n`` counted
  operations (RATE_LIMITED_METHODS) per rolling ``window_s``; the next answers 429 with
  ``parameters.retry_after``.  Calls still in flight count from when they reached Telegram.
* Poll limits as Telegram's: question 1-300 characters, 1-12 options of 1-100 characters, options
  distinct (else 400 POLL_OPTION_DUPLICATE: the group never sees that poll).
* Two getUpdates at once: the older one ends with 409 Conflict, as on Telegram.
* Polls: quizzes default to ``allows_revoting=False``; votes after close / revotes are rejected and
  recorded in ``tg.events`` (kind ``"vote_rejected"``).  Auto-close emits a ``poll`` update, as does
  stopPoll.  ``min_open_period`` (default 5 like Telegram) can be lowered to keep tests fast.
* ``clock`` (default the machine's) is Telegram's time: the rate-limit windows, the polls' open
  periods and close dates, callback queries' age, ``latency``, messages' dates and every
  ``Call``/event stamp.  A ``ScaledClock(speed)`` shared with the server under test
  (``create_app(clock=...)``) runs a test of per-minute limits ``speed`` times faster with
  Telegram's numbers unchanged (tests/fakes/scaled_clock.py).  The test controls' own
  ``timeout`` arguments and getUpdates' long-poll ``timeout`` stay in real seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import dataclasses
import email.parser
import email.policy
import json
import math
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gameserver.clock import Timer
from tests.fakes.scaled_clock import ScaledClock, SystemTime

JSONDict = dict[str, Any]
_T = TypeVar("_T")

#: Methods that Telegram flood-limits per chat (≈20/min in groups).  answerCallbackQuery is not limited.
RATE_LIMITED_METHODS: frozenset[str] = frozenset(
    {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPoll", "stopPoll", "deleteMessage"}
)

_METHODS = (
    "getMe",
    "logOut",
    "close",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "sendPoll",
    "stopPoll",
    "getChatMember",
    "getChatAdministrators",
)
_CANONICAL = {m.lower(): m for m in _METHODS}
# ``inject_429(method=None)`` targets "operations", not the plumbing of update delivery.
_WILDCARD_EXEMPT = frozenset(
    {"getUpdates", "getMe", "setWebhook", "deleteWebhook", "getWebhookInfo", "close", "logOut"}
)
# Telegram's default when allowed_updates was never given (or given as an empty list).
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Form fields that are plain strings and must never be JSON-decoded ("123" stays "123").
_STRING_FIELDS = frozenset(
    {
        "text",
        "question",
        "explanation",
        "caption",
        "description",
        "title",
        "parse_mode",
        "explanation_parse_mode",
        "question_parse_mode",
        "description_parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
    }
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_WEBHOOK_PORTS = frozenset({443, 80, 88, 8443})
_ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


# --------------------------------------------------------------------------------------------- records


class _DeliveryStamped(JSONResponse):
    """A JSON answer that notes the moment its first bytes (the status line and headers, which
    uvicorn writes at once) go to the bot's connection."""

    def __init__(self, content: Any, status_code: int, on_delivery: Callable[[], None]) -> None:
        super().__init__(content, status_code=status_code)
        self._on_delivery = on_delivery

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._on_delivery()
            await send(message)

        await super().__call__(scope, receive, stamped)


@dataclass(frozen=True)
class Call:
    """One Bot API request as the fake saw it (appended when the answer is sent)."""

    mono: float  # the fake's clock.monotonic() when the request arrived
    wall: float  # the fake's clock.time() when the request arrived
    method: str  # canonical spelling, e.g. "sendMessage" (unknown methods keep the spelling used)
    chat_id: int | str | None
    params: JSONDict
    ok: bool
    error_code: int | None = None
    description: str | None = None
    duration: float = 0.0
    token: str = ""
    answered_mono: float = 0.0  # when the answer left Telegram (reaches the bot latency / 2 later)
    answered_wall: float = 0.0
    result: Any = None  # what the call returned (getUpdates: the updates handed out)
    # when the answer's first bytes were handed to the bot's connection, after the return half
    # trip as it really passed (a sleep can overrun it on a busy box): the bot can read them then
    delivered_mono: float = 0.0
    delivered_wall: float = 0.0
    client_port: int | None = None  # the bot's end of the connection (which process asked)

    @property
    def counted(self) -> bool:
        """True for the operations Telegram rate-limits per chat."""
        return self.method in RATE_LIMITED_METHODS


@dataclass(frozen=True)
class CallbackAnswer:
    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    mono: float


@dataclass(frozen=True)
class FakeTelegramEvent:
    """Something the fake did on its own or refused: vote_accepted, vote_rejected, poll_closed,
    update_filtered (allowed_updates), webhook_dropped."""

    mono: float
    wall: float
    kind: str
    detail: JSONDict


@dataclass(frozen=True)
class WebhookDelivery:
    mono: float
    wall: float
    update_id: int
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    secret_sent: bool


@dataclass
class ChatMessage:
    """Current state of a message in a chat (snapshot returned by ``messages()``)."""

    chat_id: int
    message_id: int
    date: int
    from_user: JSONDict
    from_bot: bool
    text: str | None
    entities: list[JSONDict] = field(default_factory=list)
    reply_markup: JSONDict | None = None
    poll_id: str | None = None
    edit_date: int | None = None
    edit_count: int = 0
    deleted: bool = False
    force_reply: bool = False  # sent with ForceReply: the user's client opens a reply to it

    @property
    def buttons(self) -> list[list[JSONDict]]:
        return [list(row) for row in (self.reply_markup or {}).get("inline_keyboard", [])]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]


@dataclass
class FakePoll:
    """A poll the bot sent.  ``votes`` maps user id to chosen option indexes."""

    id: str
    chat_id: int
    message_id: int
    question: str
    options: list[str]
    persistent_ids: list[str]
    type: str
    is_anonymous: bool
    allows_multiple_answers: bool
    allows_revoting: bool
    members_only: bool
    correct_option_ids: list[int]
    explanation: str | None
    open_period: int | None
    close_date: int | None
    created_mono: float
    close_at_mono: float | None
    is_closed: bool = False
    closed_mono: float | None = None
    votes: dict[int, list[int]] = field(default_factory=dict)
    rejected_votes: list[JSONDict] = field(default_factory=list)
    legacy_correct_option_id: bool = False

    @property
    def voter_counts(self) -> list[int]:
        counts = [0] * len(self.options)
        for chosen in self.votes.values():
            for i in chosen:
                counts[i] += 1
        return counts

    @property
    def total_voter_count(self) -> int:
        return sum(1 for chosen in self.votes.values() if chosen)

    def to_api(self) -> JSONDict:
        counts = self.voter_counts
        data: JSONDict = {
            "id": self.id,
            "question": self.question,
            "options": [
                {"text": text, "voter_count": counts[i], "persistent_id": self.persistent_ids[i]}
                for i, text in enumerate(self.options)
            ],
            "total_voter_count": self.total_voter_count,
            "is_closed": self.is_closed,
            "is_anonymous": self.is_anonymous,
            "type": self.type,
            "allows_multiple_answers": self.allows_multiple_answers,
            "allows_revoting": self.allows_revoting,
            "members_only": self.members_only,
        }
        if self.type == "quiz":
            data["correct_option_ids"] = list(self.correct_option_ids)
            if self.legacy_correct_option_id and len(self.correct_option_ids) == 1:
                data["correct_option_id"] = self.correct_option_ids[0]
            if self.explanation:
                data["explanation"] = self.explanation
        if self.open_period is not None:
            data["open_period"] = self.open_period
        if self.close_date is not None:
            data["close_date"] = self.close_date
        return data


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    private_user: JSONDict | None = None
    next_message_id: int = 1
    members: set[int] = field(default_factory=set)
    admins: dict[int, str] = field(default_factory=dict)  # user id -> "creator" | "administrator"
    order: list[int] = field(default_factory=list)

    def to_api(self) -> JSONDict:
        if self.type == "private":
            user = self.private_user or {"first_name": f"User {self.id}"}
            data: JSONDict = {"id": self.id, "type": "private", "first_name": user.get("first_name", "")}
            for key in ("last_name", "username"):
                if user.get(key):
                    data[key] = user[key]
            return data
        return {"id": self.id, "type": self.type, "title": self.title or f"Group {self.id}"}


@dataclass
class _Query:
    id: str
    chat_id: int
    message_id: int
    mono: float
    answer: CallbackAnswer | None = None


@dataclass
class _Fault:
    method: str | None  # canonical name or None = any operation
    chat_id: int | str | None
    remaining: int
    code: int
    description: str
    parameters: JSONDict | None

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if self.method is None:
            if method in _WILDCARD_EXEMPT:
                return False
        elif self.method != method:
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class _Webhook:
    url: str
    secret: str | None
    max_connections: int
    ip_address: str | None
    semaphore: asyncio.Semaphore


# ------------------------------------------------------------------------------------------ utilities


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _norm_chat_id(value: Any) -> int | str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text or None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _coerce(key: str, value: str) -> Any:
    """Form values: PTB JSON-encodes everything except plain strings; decode where sensible."""
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value, parse_constant=_reject_constant)
    except ValueError:
        return value


def _parse_multipart(content_type: str, body: bytes) -> JSONDict:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise _bad("can't parse multipart body")
    params: JSONDict = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            params[name] = {"filename": filename, "size": len(raw), "content_type": part.get_content_type()}
        else:
            params[name] = _coerce(name, raw.decode("utf-8"))
    return params


async def _read_params(request: Request) -> JSONDict:
    params: JSONDict = {k: _coerce(k, v) for k, v in request.query_params.multi_items()}
    body = await request.body()
    if not body.strip():
        return params
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json" or (not mime and body.lstrip()[:1] == b"{"):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise _bad("can't parse JSON request body") from exc
        if not isinstance(data, dict):
            raise _bad("JSON request body must be an object")
        params.update(data)
    elif mime == "application/x-www-form-urlencoded":
        for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            params[key] = _coerce(key, value)
    elif mime == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    else:
        raise _bad(f"unsupported Content-Type {mime!r}")
    return params


def _json_field(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _bad(f"can't parse {name} JSON object") from exc
    return value


def _req_int(params: JSONDict, key: str) -> int:
    value = params.get(key)
    if value is None or value == "":
        raise _bad(f"{key} is empty" if key != "message_id" else "message identifier is not specified")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise _bad(f"invalid {key} specified") from exc


def _opt_int(params: JSONDict, key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError) as exc:
        raise _bad(f"invalid {key} specified") from exc


def _bool(params: JSONDict, key: str, default: bool = False) -> bool:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _entity_key(entity: JSONDict) -> tuple[int, int, str]:
    return (int(entity.get("offset", 0)), -int(entity.get("length", 0)), str(entity.get("type", "")))


def _norm_entities(entities: Any) -> list[JSONDict]:
    entities = _json_field(entities, "entities") or []
    if not isinstance(entities, list):
        raise _bad("entities must be an array")
    return sorted((dict(e) for e in entities if isinstance(e, dict)), key=_entity_key)


# ---------------------------------------------------------------------------------- markup rendering

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR_RE = re.compile(r"""([A-Za-z_][\w-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_ENTITY_RE = re.compile(r"&(#[xX][0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);")


def _entities_error(src: str, index: int, what: str) -> _ApiError:
    return _bad(f"can't parse entities: {what} at byte offset {len(src[:index].encode('utf-8'))}")


def _parse_html(src: str) -> tuple[str, list[JSONDict]]:
    out: list[str] = []
    pos = 0  # UTF-16 offset in the rendered text
    stack: list[tuple[str, str, int, dict[str, str]]] = []
    entities: list[JSONDict] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "<":
            end = src.find(">", i)
            if end < 0:
                raise _entities_error(src, i, "Unclosed start tag")
            inner = src[i + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise _entities_error(src, i, f'Unexpected end tag "{name}"')
                tag, etype, start, attrs = stack.pop()
                if name and name != tag:
                    raise _bad(
                        f"can't parse entities: Unmatched end tag at byte offset "
                        f'{len(src[:i].encode("utf-8"))}, expected "</{tag}>", found "</{name}>"'
                    )
                length = pos - start
                if tag == "code" and stack and stack[-1][0] == "pre":
                    lang = attrs.get("class", "")
                    if lang.startswith("language-"):
                        stack[-1][3]["language"] = lang[len("language-") :]
                elif length > 0:
                    entity: JSONDict = {"type": etype, "offset": start, "length": length}
                    if etype == "text_link":
                        entity["url"] = attrs.get("href", "")
                    elif etype == "pre" and attrs.get("language"):
                        entity["language"] = attrs["language"]
                    elif etype == "custom_emoji":
                        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
                    elif etype == "blockquote" and "expandable" in attrs:
                        entity["type"] = "expandable_blockquote"
                    entities.append(entity)
            else:
                parts = inner.split(None, 1)
                name = parts[0].lower() if parts else ""
                attrs = {
                    m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or "")
                    for m in _ATTR_RE.finditer(parts[1] if len(parts) > 1 else "")
                }
                if name not in _HTML_TAGS or (name == "span" and attrs.get("class") != "tg-spoiler"):
                    raise _entities_error(src, i, f'Unsupported start tag "{name}"')
                if name == "a" and "href" not in attrs:
                    raise _entities_error(src, i, 'Can\'t find "href" attribute of the tag "a"')
                stack.append((name, _HTML_TAGS[name], pos, attrs))
            i = end + 1
            continue
        if ch == "&":
            m = _ENTITY_RE.match(src, i)
            if m:
                ref = m.group(1)
                decoded: str | None
                if ref.startswith(("#x", "#X")):
                    decoded = chr(int(ref[2:], 16))
                elif ref.startswith("#"):
                    decoded = chr(int(ref[1:]))
                else:
                    decoded = _HTML_NAMED.get(ref.lower())
                if decoded is not None:
                    out.append(decoded)
                    pos += _utf16_len(decoded)
                    i = m.end()
                    continue
        out.append(ch)
        pos += _utf16_len(ch)
        i += 1
    if stack:
        raise _entities_error(src, len(src), f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), sorted(entities, key=_entity_key)


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def _parse_markdown(src: str, v2: bool) -> tuple[str, list[JSONDict]]:
    out: list[str] = []
    pos = 0
    entities: list[JSONDict] = []
    open_: dict[str, tuple[int, int]] = {}  # entity type -> (utf16 start, src index)
    markers = (
        [("||", "spoiler"), ("__", "underline"), ("*", "bold"), ("_", "italic"), ("~", "strikethrough")]
        if v2
        else [("*", "bold"), ("_", "italic")]
    )

    def emit(text: str) -> None:
        nonlocal pos
        out.append(text)
        pos += _utf16_len(text)

    def close(etype: str, extra: JSONDict | None = None) -> None:
        start, _ = open_.pop(etype)
        if pos > start:
            entities.append({"type": etype, "offset": start, "length": pos - start, **(extra or {})})

    i = 0
    line_start = True
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src) and (v2 or src[i + 1] in "_*`["):
            emit(src[i + 1])
            i += 2
            line_start = False
            continue
        if ch == "`":
            fence = "```" if src.startswith("```", i) else "`"
            j = i + len(fence)
            body: list[str] = []
            while j < len(src) and not src.startswith(fence, j):
                if v2 and src[j] == "\\" and j + 1 < len(src):
                    j += 1
                body.append(src[j])
                j += 1
            if j >= len(src):
                raise _entities_error(src, i, f"Can't find end of {'Pre' if len(fence) == 3 else 'Code'} entity")
            content = "".join(body)
            extra: JSONDict = {}
            if len(fence) == 3:
                first, sep, rest = content.partition("\n")
                if sep and first and " " not in first:
                    extra["language"] = first
                    content = rest
                elif sep and not first:
                    content = rest
            start = pos
            emit(content)
            if pos > start:
                entities.append(
                    {
                        "type": "pre" if len(fence) == 3 else "code",
                        "offset": start,
                        "length": pos - start,
                        **extra,
                    }
                )
            i = j + len(fence)
            line_start = False
            continue
        if ch == "[" and "text_link" not in open_:
            open_["text_link"] = (pos, i)
            i += 1
            continue
        if ch == "]" and "text_link" in open_:
            if not src.startswith("(", i + 1):
                raise _entities_error(src, i, "Can't find end of a URL")
            end = src.find(")", i + 2)
            if end < 0:
                raise _entities_error(src, i, "Can't find end of a URL")
            close("text_link", {"url": src[i + 2 : end].replace("\\)", ")").replace("\\\\", "\\")})
            i = end + 1
            continue
        if v2 and ch == ">" and line_start:
            i += 1
            continue
        for marker, etype in markers:
            if src.startswith(marker, i):
                if etype in open_:
                    close(etype)
                else:
                    open_[etype] = (pos, i)
                i += len(marker)
                break
        else:
            if v2 and ch in _MDV2_RESERVED:
                raise _bad(
                    f"can't parse entities: Character '{ch}' is reserved and must be escaped with the preceding '\\'"
                )
            emit(ch)
            line_start = ch == "\n"
            i += 1
            continue
        line_start = False
    if open_:
        etype, (_, index) = next(iter(open_.items()))
        raise _entities_error(src, index, f"Can't find end of {_MD_NAMES.get(etype, etype)} entity")
    return "".join(out), sorted(entities, key=_entity_key)


def _render(params: JSONDict, text_key: str, mode_key: str, entities_key: str) -> tuple[str, list[JSONDict]]:
    raw = params.get(text_key)
    if raw is None:
        raise _bad("message text is empty")
    text = str(raw)
    if params.get(entities_key):
        return text, _norm_entities(params[entities_key])
    mode = str(params.get(mode_key) or "").lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown(text, v2=True)
    if mode == "markdown":
        return _parse_markdown(text, v2=False)
    return text, []


def _member(user: JSONDict, status: str) -> JSONDict:
    if status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    if status == "administrator":
        rights: JSONDict = dict.fromkeys(_ADMIN_RIGHTS, True)
        rights["is_anonymous"] = False
        rights["can_be_edited"] = False
        return {"status": "administrator", "user": user, **rights}
    if status == "kicked":
        return {"status": "kicked", "user": user, "until_date": 0}
    if status in ("member", "left"):
        return {"status": status, "user": user}
    raise ValueError(f"unsupported chat member status {status!r}")


class _QuietServer(uvicorn.Server):
    """uvicorn server that leaves the process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _AsgiRunner:
    """Serves an ASGI app with uvicorn on 127.0.0.1:<free port> as a task of the running loop."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self.port = 0
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it an answer's body waits for the client's
        # delayed ACK of its headers (~40 ms on Linux) on every keep-alive request after the
        # first, which would add 40 ms to every simulated round trip.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"uvicorn:{self.port}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn exited during startup")
            await asyncio.sleep(0.005)
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None


@contextlib.asynccontextmanager
async def serve_asgi(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve any ASGI app (e.g. a webhook receiver) on a free port; yields ``http://host:port``."""
    runner = _AsgiRunner(app, host)
    port = await runner.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.stop()


# -------------------------------------------------------------------------------------------- the fake


class FakeTelegram:
    """Fake Bot API server.  See the module docstring for semantics."""

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_username: str = "fake_quiz_bot",
        bot_first_name: str = "Fake Quiz Bot",
        threaded: bool = False,
        min_open_period: int = 5,
        callback_query_ttl: float = 15.0,
        group_rate_limit: tuple[int, float] | None = None,
        poll_updates_on_vote: bool = False,
        legacy_correct_option_id: bool = False,
        webhook_retries: int = 3,
        strict_webhook: bool = False,
        host: str = "127.0.0.1",
        latency: float = 0.0,
        clock: SystemTime | ScaledClock | None = None,
    ) -> None:
        # a fresh bot per fake unless told: state a bot keeps in a shared Redis stays apart
        self.token = token or f"{secrets.randbelow(9 * 10**8) + 10**8}:AAFakeTokenForTests_{secrets.token_hex(8)}"
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.threaded = threaded
        self.min_open_period = min_open_period
        self.callback_query_ttl = callback_query_ttl
        self.group_rate_limit = group_rate_limit
        self.poll_updates_on_vote = poll_updates_on_vote
        self.legacy_correct_option_id = legacy_correct_option_id
        self.webhook_retries = webhook_retries
        self.strict_webhook = strict_webhook
        self.host = host
        self.port = 0
        self.latency = latency  # round trip of every call, seconds
        self.clock = clock or SystemTime()  # Telegram's time: every limit, stamp and delay above
        #: per group: when each counted operation reached Telegram (in flight ones included)
        self._group_ops: dict[int, deque[float]] = {}

        self.calls: list[Call] = []
        self.events: list[FakeTelegramEvent] = []
        self.webhook_deliveries: list[WebhookDelivery] = []

        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file_endpoint, methods=["GET"]),
            ]
        )
        self._runner = _AsgiRunner(self.app, host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None
        self._closing = False

        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[tuple[int, int], ChatMessage] = {}
        self._polls: dict[str, FakePoll] = {}
        self._poll_timers: dict[str, Timer] = {}
        self._queries: dict[str, _Query] = {}
        self._faults: list[_Fault] = []
        self._next_update_id = 100_000
        self._next_query = 0
        self._next_poll = 0

        self._updates: list[JSONDict] = []
        self._allowed_updates: list[str] | None = None
        self._poll_waiters: list[asyncio.Future[None]] = []
        self._poll_generation = 0

        self._webhook: _Webhook | None = None
        self._webhook_last_error: tuple[int, str] | None = None
        self._wh_queues: dict[tuple[Any, ...], deque[JSONDict]] = {}
        self._wh_tasks: dict[tuple[Any, ...], asyncio.Task[None]] = {}
        self._wh_inflight: dict[tuple[Any, ...], JSONDict] = {}
        self._wh_client: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        return self._bot_id_for(self.token)

    @property
    def bot_user(self) -> JSONDict:
        return self._bot_user(self.token)

    @property
    def allowed_updates(self) -> list[str] | None:
        """Sticky allowed_updates (None = Telegram's default set)."""
        return None if self._allowed_updates is None else list(self._allowed_updates)

    @property
    def webhook_url(self) -> str | None:
        return None if self._webhook is None else self._webhook.url

    # ------------------------------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> FakeTelegram:
        if self.threaded:
            await asyncio.to_thread(self.__enter__)
        else:
            await self._start_in_loop()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is not None:
            await asyncio.to_thread(self.__exit__, exc_type, exc, tb)
        else:
            await self._stop_in_loop()

    def __enter__(self) -> FakeTelegram:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                await self._start_in_loop()
                self._thread_stop = asyncio.Event()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                raise
            ready.set()
            await self._thread_stop.wait()
            await self._stop_in_loop()

        def run() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(main())

        self._thread = threading.Thread(target=run, name="fake-telegram", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("fake Telegram server did not start")
        if failure:
            raise failure[0]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        thread, loop, stop = self._thread, self._loop, self._thread_stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        self._thread = None

    async def _start_in_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._closing = False
        self.port = await self._runner.start()

    async def _stop_in_loop(self) -> None:
        self._closing = True
        self._wake_pollers()
        for handle in self._poll_timers.values():
            handle.cancel()
        self._poll_timers.clear()
        tasks = list(self._wh_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._wh_tasks.clear()
        await self._runner.stop()
        if self._wh_client is not None:
            await self._wh_client.aclose()
            self._wh_client = None

    def _sync(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server loop (directly when already there or not started)."""
        loop = self._loop
        if loop is None or self._thread is None or threading.get_ident() == self._loop_thread:
            return fn()
        result: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def runner() -> None:
            try:
                result.set_result(fn())
            except BaseException as exc:
                result.set_exception(exc)

        loop.call_soon_threadsafe(runner)
        return result.result(timeout=15)

    # ------------------------------------------------------------------------------------ HTTP layer

    async def _file_endpoint(self, request: Request) -> Response:
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)

    async def _endpoint(self, request: Request) -> Response:
        token = request.path_params["token"]
        raw_method = request.path_params["method"]
        method = _CANONICAL.get(raw_method.lower(), raw_method)
        params: JSONDict = {}
        status = 200
        body: JSONDict
        result: Any = None
        half_trip = self.latency / 2
        if half_trip > 0:
            await self.clock.sleep(half_trip)
        mono, wall = self.clock.monotonic(), self.clock.time()
        try:
            params = await _read_params(request)
        except ClientDisconnect:  # the bot went away (shut down) while its request travelled
            return Response(status_code=499)
        try:
            result = await self._dispatch(token, method, params, mono)
            body = {"ok": True, "result": result}
        except _ApiError as exc:
            status = exc.code
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
        call = Call(
            mono=mono,
            wall=wall,
            method=method,
            chat_id=self._call_chat_id(method, params),
            params=dict(params),
            ok=body["ok"],
            error_code=None if body["ok"] else status,
            description=body.get("description"),
            duration=self.clock.monotonic() - mono,
            token=token,
            answered_mono=self.clock.monotonic(),
            answered_wall=self.clock.time(),
            result=result,
            client_port=request.client.port if request.client is not None else None,
        )
        self.calls.append(call)
        index = len(self.calls) - 1
        if half_trip > 0:
            await self.clock.sleep(half_trip)

        def delivered() -> None:
            self.calls[index] = dataclasses.replace(
                call, delivered_mono=self.clock.monotonic(), delivered_wall=self.clock.time()
            )

        return _DeliveryStamped(body, status_code=status, on_delivery=delivered)

    def _call_chat_id(self, method: str, params: JSONDict) -> int | str | None:
        if "chat_id" in params:
            return _norm_chat_id(params["chat_id"])
        if method == "answerCallbackQuery":
            query = self._queries.get(str(params.get("callback_query_id", "")))
            return query.chat_id if query else None
        return None

    async def _dispatch(self, token: str, method: str, params: JSONDict, mono: float) -> Any:
        chat_id = self._call_chat_id(method, params)
        for fault in self._faults:
            if fault.matches(method, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise _ApiError(fault.code, fault.description, copy.deepcopy(fault.parameters))
        if method in RATE_LIMITED_METHODS and self.group_rate_limit is not None and isinstance(chat_id, int):
            self._check_group_rate(chat_id, mono)
        handler = getattr(self, f"_m_{method}", None) if method in _METHODS else None
        if handler is None:
            raise _ApiError(404, "Not Found")
        return await handler(token, params)

    def _check_group_rate(self, chat_id: int, mono: float) -> None:
        assert self.group_rate_limit is not None
        limit, window = self.group_rate_limit
        chat = self._chats.get(chat_id)
        chat_type = chat.type if chat is not None else self._infer_chat_type(chat_id)
        if chat_type not in ("group", "supergroup"):
            return
        recent = self._group_ops.setdefault(chat_id, deque())
        while recent and recent[0] <= mono - window:
            recent.popleft()
        if len(recent) >= limit:
            retry = max(1, math.ceil(recent[0] + window - mono))
            raise _ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        recent.append(mono)

    # ---------------------------------------------------------------------------------- bot identity

    def _bot_id_for(self, token: str) -> int:
        prefix = token.split(":", 1)[0]
        return int(prefix) if prefix.isdigit() else 123456789

    def _bot_user(self, token: str) -> JSONDict:
        return {
            "id": self._bot_id_for(token),
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------------------- state helpers

    def _event(self, kind: str, /, **detail: Any) -> None:
        self.events.append(FakeTelegramEvent(self.clock.monotonic(), self.clock.time(), kind, detail))

    def _register_user(self, user: JSONDict) -> JSONDict:
        if "id" not in user or "first_name" not in user:
            raise ValueError("a user needs at least 'id' and 'first_name' (use tg.user())")
        user = {"is_bot": False, **user}
        self._users[int(user["id"])] = user
        return user

    def _infer_chat_type(self, chat_id: int) -> str:
        if chat_id > 0:
            return "private"
        return "supergroup" if str(chat_id).startswith("-100") else "group"

    def _ensure_chat(self, chat_id: int, chat_type: str | None = None, title: str | None = None) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            ctype = chat_type or self._infer_chat_type(chat_id)
            chat = _Chat(id=chat_id, type=ctype, title=title)
            if ctype == "private":
                chat.private_user = self._users.get(chat_id)
            self._chats[chat_id] = chat
        else:
            if chat_type and chat_type != chat.type:
                chat.type = chat_type
            if title:
                chat.title = title
        return chat

    def _chat_for(self, params: JSONDict, *, sending: bool) -> _Chat:
        chat_id = _norm_chat_id(params.get("chat_id"))
        if chat_id is None:
            raise _bad("chat_id is empty")
        if not isinstance(chat_id, int):
            raise _bad("chat not found")
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                if sending:
                    raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
                raise _bad("chat not found")
            chat = self._ensure_chat(chat_id)
        return chat

    def _message(self, chat: _Chat, params: JSONDict, not_found: str) -> ChatMessage:
        message_id = _req_int(params, "message_id")
        msg = self._messages.get((chat.id, message_id))
        if msg is None or msg.deleted:
            raise _bad(not_found)
        return msg

    def _new_message(
        self,
        chat: _Chat,
        from_user: JSONDict,
        *,
        from_bot: bool,
        text: str | None,
        entities: list[JSONDict] | None = None,
        reply_markup: JSONDict | None = None,
        poll_id: str | None = None,
    ) -> ChatMessage:
        msg = ChatMessage(
            chat_id=chat.id,
            message_id=chat.next_message_id,
            date=int(self.clock.time()),
            from_user=from_user,
            from_bot=from_bot,
            text=text,
            entities=list(entities or []),
            reply_markup=reply_markup,
            poll_id=poll_id,
        )
        chat.next_message_id += 1
        chat.order.append(msg.message_id)
        self._messages[(chat.id, msg.message_id)] = msg
        return msg

    def _message_api(self, msg: ChatMessage) -> JSONDict:
        chat = self._chats[msg.chat_id]
        data: JSONDict = {
            "message_id": msg.message_id,
            "from": dict(msg.from_user),
            "chat": chat.to_api(),
            "date": msg.date,
        }
        if msg.edit_date is not None:
            data["edit_date"] = msg.edit_date
        if msg.text is not None:
            data["text"] = msg.text
            if msg.entities:
                data["entities"] = copy.deepcopy(msg.entities)
        if msg.poll_id is not None:
            data["poll"] = self._polls[msg.poll_id].to_api()
        if msg.reply_markup is not None:
            data["reply_markup"] = copy.deepcopy(msg.reply_markup)
        return data

    @staticmethod
    def _inline_markup(value: Any) -> JSONDict | None:
        markup = _json_field(value, "reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None  # reply keyboards / ForceReply / remove: accepted, never echoed in Message
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array of Arrays")
        clean_rows: list[list[JSONDict]] = []
        for row in rows:
            clean_row: list[JSONDict] = []
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
                if "callback_data" in button:
                    data = str(button["callback_data"])
                    if not 1 <= len(data.encode("utf-8")) <= 64:
                        raise _bad("BUTTON_DATA_INVALID")
                clean_row.append(copy.deepcopy(button))
            if clean_row:
                clean_rows.append(clean_row)
        return {"inline_keyboard": clean_rows} if clean_rows else None

    # ---------------------------------------------------------------------------------- update queue

    def _allowed(self, kind: str) -> bool:
        if self._allowed_updates is None:
            return kind not in _NOT_DEFAULT_UPDATES
        return kind in self._allowed_updates

    def _set_allowed(self, value: Any) -> None:
        value = _json_field(value, "allowed_updates")
        if value is None:
            return
        if not isinstance(value, list):
            raise _bad("allowed_updates must be an array of strings")
        self._allowed_updates = [str(v) for v in value] or None

    def _wake_pollers(self) -> None:
        waiters, self._poll_waiters = self._poll_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _emit(self, kind: str, payload: JSONDict) -> int:
        self._next_update_id += 1
        update_id = self._next_update_id
        if not self._allowed(kind):
            self._event("update_filtered", update_id=update_id, kind=kind, allowed_updates=self.allowed_updates)
            return update_id
        update = {"update_id": update_id, kind: payload}
        if self._webhook is not None:
            self._webhook_enqueue(update)
        else:
            self._updates.append(update)
            self._wake_pollers()
        return update_id

    def _take_updates(self, limit: int) -> list[JSONDict]:
        kept: list[JSONDict] = []
        for update in self._updates:
            kind = next(k for k in update if k != "update_id")
            if self._allowed(kind):
                kept.append(update)
            else:
                self._event("update_filtered", update_id=update["update_id"], kind=kind)
        self._updates = kept
        return copy.deepcopy(kept[:limit])

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    # ------------------------------------------------------------------------------------- webhooks

    @staticmethod
    def _delivery_key(update: JSONDict) -> tuple[Any, ...]:
        if "poll_answer" in update:
            return ("poll", update["poll_answer"]["poll_id"])
        if "poll" in update:
            return ("poll", update["poll"]["id"])
        for kind in ("message", "edited_message", "my_chat_member", "chat_member"):
            if kind in update:
                return ("chat", update[kind]["chat"]["id"])
        if "callback_query" in update:
            message = update["callback_query"].get("message") or {}
            return ("chat", (message.get("chat") or {}).get("id"))
        return ("other",)

    def _webhook_enqueue(self, update: JSONDict) -> None:
        key = self._delivery_key(update)
        self._wh_queues.setdefault(key, deque()).append(update)
        task = self._wh_tasks.get(key)
        if task is None or task.done():
            loop = self._loop or asyncio.get_running_loop()
            self._wh_tasks[key] = loop.create_task(self._webhook_worker(key))

    async def _webhook_worker(self, key: tuple[Any, ...]) -> None:
        try:
            queue = self._wh_queues.get(key)
            while queue and not self._closing:
                webhook = self._webhook
                if webhook is None:
                    break
                update = queue.popleft()
                self._wh_inflight[key] = update
                try:
                    await self._deliver(webhook, update)
                finally:
                    self._wh_inflight.pop(key, None)
                queue = self._wh_queues.get(key)
        finally:
            if self._wh_tasks.get(key) is asyncio.current_task():
                del self._wh_tasks[key]
            if not self._wh_queues.get(key):
                self._wh_queues.pop(key, None)

    async def _deliver(self, webhook: _Webhook, update: JSONDict) -> None:
        if self._wh_client is None:
            self._wh_client = httpx.AsyncClient(timeout=10.0, trust_env=False)
        headers = {"X-Telegram-Bot-Api-Secret-Token": webhook.secret} if webhook.secret else {}
        if self.latency > 0:
            await self.clock.sleep(self.latency / 2)
        async with webhook.semaphore:
            for attempt in range(1, self.webhook_retries + 2):
                status: int | None = None
                error: str | None = None
                try:
                    response = await self._wh_client.post(webhook.url, json=update, headers=headers)
                    status = response.status_code
                    if not 200 <= status <= 299:
                        error = f"Wrong response from the webhook: {status} {response.reason_phrase}"
                except httpx.HTTPError as exc:
                    error = f"Connection failed: {exc!r}"
                self.webhook_deliveries.append(
                    WebhookDelivery(
                        self.clock.monotonic(),
                        self.clock.time(),
                        update["update_id"],
                        webhook.url,
                        attempt,
                        status,
                        error,
                        bool(webhook.secret),
                    )
                )
                if error is None:
                    return
                self._webhook_last_error = (int(self.clock.time()), error)
                if attempt > self.webhook_retries:
                    self._event("webhook_dropped", update_id=update["update_id"], error=error)
                    return
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))

    def _webhook_pending(self) -> int:
        return sum(len(q) for q in self._wh_queues.values()) + len(self._wh_inflight)

    # ---------------------------------------------------------------------------------- API methods

    async def _m_getMe(self, token: str, params: JSONDict) -> Any:
        return {
            **self._bot_user(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_logOut(self, token: str, params: JSONDict) -> Any:
        return True

    async def _m_close(self, token: str, params: JSONDict) -> Any:
        return True

    async def _m_setWebhook(self, token: str, params: JSONDict) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_deleteWebhook(token, params)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad("bad webhook: Failed to resolve host: Name or service not known")
        if self.strict_webhook:
            if parts.scheme != "https":
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in _WEBHOOK_PORTS:
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and secret != "":
            secret = str(secret)
            if not _SECRET_RE.match(secret):
                raise _bad("secret token contains unallowed characters")
        else:
            secret = None
        max_connections = _opt_int(params, "max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise _bad("invalid max_connections specified")
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        loop_sem = asyncio.Semaphore(max_connections)
        self._webhook = _Webhook(url, secret, max_connections, params.get("ip_address"), loop_sem)
        self._webhook_last_error = None
        pending, self._updates = self._updates, []
        self._wake_pollers()
        for update in pending:
            self._webhook_enqueue(update)
        return True

    async def _m_deleteWebhook(self, token: str, params: JSONDict) -> Any:
        self._webhook = None
        moved = [u for q in self._wh_queues.values() for u in q]
        self._wh_queues.clear()
        self._updates = sorted(self._updates + moved, key=lambda u: int(u["update_id"]))
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, token: str, params: JSONDict) -> Any:
        webhook = self._webhook
        info: JSONDict = {
            "url": webhook.url if webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": self._webhook_pending() if webhook else len(self._updates),
        }
        if webhook is not None:
            info["max_connections"] = webhook.max_connections
            if webhook.ip_address:
                info["ip_address"] = webhook.ip_address
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        if self._allowed_updates is not None:
            info["allowed_updates"] = list(self._allowed_updates)
        return info

    async def _m_getUpdates(self, token: str, params: JSONDict) -> Any:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        offset = _opt_int(params, "offset")
        limit = min(100, max(1, _opt_int(params, "limit") or 100))
        timeout = max(0.0, float(params.get("timeout") or 0))
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll now ends with 409
        self._confirm(offset)
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if self._webhook is not None:
                raise _ApiError(409, "Conflict: terminated by setWebhook request")
            batch = self._take_updates(limit)
            remaining = deadline - time.monotonic()
            if batch or self._closing or remaining <= 0:
                return batch
            waiter: asyncio.Future[None] = loop.create_future()
            self._poll_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                if waiter in self._poll_waiters:
                    self._poll_waiters.remove(waiter)

    async def _m_sendMessage(self, token: str, params: JSONDict) -> Any:
        chat = self._chat_for(params, sending=True)
        text, entities = _render(params, "text", "parse_mode", "entities")
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > 4096:
            raise _bad("message is too long")
        markup = self._inline_markup(params.get("reply_markup"))
        msg = self._new_message(
            chat, self._bot_user(token), from_bot=True, text=text, entities=entities, reply_markup=markup
        )
        asked = _json_field(params.get("reply_markup"), "reply_markup")
        msg.force_reply = isinstance(asked, dict) and bool(asked.get("force_reply"))
        return self._message_api(msg)

    def _editable(self, params: JSONDict) -> tuple[_Chat, ChatMessage]:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by the fake")
        chat = self._chat_for(params, sending=False)
        msg = self._message(chat, params, "message to edit not found")
        if not msg.from_bot:
            raise _bad("message can't be edited")
        return chat, msg

    async def _m_editMessageText(self, token: str, params: JSONDict) -> Any:
        _, msg = self._editable(params)
        if msg.text is None:
            raise _bad("there is no text in the message to edit")
        text, entities = _render(params, "text", "parse_mode", "entities")
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > 4096:
            raise _bad("MESSAGE_TOO_LONG")
        markup = self._inline_markup(params.get("reply_markup"))
        if (text, entities, markup) == (msg.text, msg.entities, msg.reply_markup):
            raise _ApiError(400, _NOT_MODIFIED)
        msg.text, msg.entities, msg.reply_markup = text, entities, markup
        msg.edit_date = int(self.clock.time())
        msg.edit_count += 1
        return self._message_api(msg)

    async def _m_editMessageReplyMarkup(self, token: str, params: JSONDict) -> Any:
        _, msg = self._editable(params)
        markup = self._inline_markup(params.get("reply_markup"))
        if markup == msg.reply_markup:
            raise _ApiError(400, _NOT_MODIFIED)
        msg.reply_markup = markup
        msg.edit_date = int(self.clock.time())
        msg.edit_count += 1
        return self._message_api(msg)

    async def _m_deleteMessage(self, token: str, params: JSONDict) -> Any:
        chat = self._chat_for(params, sending=False)
        msg = self._message(chat, params, "message to delete not found")
        bot_id = self._bot_id_for(token)
        if not msg.from_bot and chat.type != "private" and bot_id not in chat.admins:
            raise _bad("message can't be deleted")
        msg.deleted = True
        return True

    async def _m_answerCallbackQuery(self, token: str, params: JSONDict) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        query = self._queries.get(query_id)
        now = self.clock.monotonic()
        if query is None or query.answer is not None or now - query.mono > self.callback_query_ttl:
            raise _ApiError(400, _QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        query.answer = CallbackAnswer(
            query_id=query_id,
            text=None if text is None else str(text),
            show_alert=_bool(params, "show_alert"),
            url=params.get("url"),
            cache_time=_opt_int(params, "cache_time"),
            mono=now,
        )
        return True

    async def _m_sendPoll(self, token: str, params: JSONDict) -> Any:
        chat = self._chat_for(params, sending=True)
        question = str(params.get("question") or "")
        if not 1 <= len(question) <= 300:
            raise _bad("POLL_QUESTION_INVALID" if question else "poll question must be non-empty")
        raw_options = _json_field(params.get("options"), "options")
        if not isinstance(raw_options, list):
            raise _bad("can't parse options JSON object")
        options = [str(o.get("text", "")) if isinstance(o, dict) else str(o) for o in raw_options]
        if not 1 <= len(options) <= 12:
            raise _bad("POLL_ANSWERS_INVALID")
        if any(not 1 <= len(o) <= 100 for o in options):
            raise _bad("POLL_ANSWER_INVALID")
        if len(set(options)) != len(options):
            raise _bad("POLL_OPTION_DUPLICATE")
        poll_type = str(params.get("type") or "regular")
        if poll_type not in ("regular", "quiz"):
            raise _bad("poll type is invalid")
        multiple = _bool(params, "allows_multiple_answers")
        correct_raw = _json_field(params.get("correct_option_ids"), "correct_option_ids")
        if correct_raw is None and params.get("correct_option_id") is not None:
            correct_raw = [params["correct_option_id"]]
        correct = [int(i) for i in (correct_raw or [])]
        if poll_type == "quiz":
            if not correct:
                raise _bad("correct_option_ids must be specified for quizzes")
            if any(not 0 <= i < len(options) for i in correct) or len(set(correct)) != len(correct):
                raise _bad("wrong correct option IDs specified")
            if len(correct) > 1 and not multiple:
                raise _bad("a quiz with one answer can have only one correct option")
        explanation = params.get("explanation")
        if explanation is not None and len(str(explanation)) > 200:
            raise _bad("explanation is too long")
        open_period = _opt_int(params, "open_period")
        close_date = _opt_int(params, "close_date")
        now_mono, now_wall = self.clock.monotonic(), self.clock.time()
        close_at: float | None = None
        if open_period is not None and close_date is not None:
            raise _bad("open_period and close_date can't be used together")
        if open_period is not None:
            if not self.min_open_period <= open_period <= 2628000:
                raise _bad("open_period is invalid")
            close_at = now_mono + open_period
            close_date = int(now_wall + open_period)
        elif close_date is not None:
            delta = close_date - now_wall
            if not self.min_open_period <= delta <= 2628000:
                raise _bad("close_date is invalid")
            close_at = now_mono + delta
        self._next_poll += 1
        seq = self._next_poll
        poll = FakePoll(
            id=str(5_400_000_000_000_000_000 + seq),
            chat_id=chat.id,
            message_id=0,
            question=question,
            options=options,
            persistent_ids=[f"p{seq}o{i}" for i in range(len(options))],
            type=poll_type,
            is_anonymous=_bool(params, "is_anonymous", True),
            allows_multiple_answers=multiple,
            allows_revoting=_bool(params, "allows_revoting", poll_type != "quiz"),
            members_only=_bool(params, "members_only"),
            correct_option_ids=correct,
            explanation=None if explanation is None else str(explanation),
            open_period=open_period,
            close_date=close_date,
            created_mono=now_mono,
            close_at_mono=close_at,
            is_closed=_bool(params, "is_closed"),
            legacy_correct_option_id=self.legacy_correct_option_id,
        )
        self._polls[poll.id] = poll
        markup = self._inline_markup(params.get("reply_markup"))
        msg = self._new_message(
            chat, self._bot_user(token), from_bot=True, text=None, reply_markup=markup, poll_id=poll.id
        )
        poll.message_id = msg.message_id
        if poll.is_closed:
            poll.closed_mono = now_mono
        elif close_at is not None:
            self._poll_timers[poll.id] = self.clock.call_later(
                max(0.0, close_at - self.clock.monotonic()), lambda: self._auto_close(poll.id)
            )
        return self._message_api(msg)

    def _auto_close(self, poll_id: str) -> None:
        self._poll_timers.pop(poll_id, None)
        poll = self._polls.get(poll_id)
        if poll is not None and not poll.is_closed:
            self._close_poll(poll, "auto")

    def _close_poll(self, poll: FakePoll, reason: str) -> None:
        poll.is_closed = True
        poll.closed_mono = self.clock.monotonic()
        handle = self._poll_timers.pop(poll.id, None)
        if handle is not None:
            handle.cancel()
        self._event("poll_closed", poll_id=poll.id, chat_id=poll.chat_id, reason=reason)
        self._emit("poll", poll.to_api())

    async def _m_stopPoll(self, token: str, params: JSONDict) -> Any:
        chat = self._chat_for(params, sending=False)
        msg = self._message(chat, params, "message with poll to stop not found")
        if msg.poll_id is None or not msg.from_bot:
            raise _bad("message with poll to stop not found")
        poll = self._polls[msg.poll_id]
        if poll.is_closed:
            raise _bad("poll has already been closed")
        if "reply_markup" in params:
            msg.reply_markup = self._inline_markup(params["reply_markup"])
        self._close_poll(poll, "stopPoll")
        return poll.to_api()

    def _member_of(self, chat: _Chat, user_id: int, token: str) -> JSONDict:
        bot_id = self._bot_id_for(token)
        user = self._bot_user(token) if user_id == bot_id else self._users.get(user_id)
        if user is None:
            raise _bad("user not found")
        status = chat.admins.get(user_id)
        if status is None:
            in_chat = user_id in chat.members or user_id == bot_id or (chat.type == "private" and user_id == chat.id)
            status = "member" if in_chat else "left"
        return _member(dict(user), status)

    async def _m_getChatMember(self, token: str, params: JSONDict) -> Any:
        chat = self._chat_for(params, sending=False)
        return self._member_of(chat, _req_int(params, "user_id"), token)

    async def _m_getChatAdministrators(self, token: str, params: JSONDict) -> Any:
        chat = self._chat_for(params, sending=False)
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        return [self._member_of(chat, uid, token) for uid in chat.admins]

    # ------------------------------------------------------------------------------- test controls

    def user(
        self,
        id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        *,
        language_code: str | None = None,
    ) -> JSONDict:
        """A Bot API User dict (also remembered for getChatMember)."""
        user: JSONDict = {"id": id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return self._sync(lambda: self._register_user(user))

    def send_text(
        self,
        chat_id: int,
        user: JSONDict,
        text: str,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        reply_to: int | None = None,
    ) -> JSONDict:
        """Queue a ``message`` update from ``user``; a leading /command gets a bot_command entity.
        ``chat_type`` defaults to private for positive ids, supergroup for -100…, else group.
        ``reply_to``: the id of a message in that chat this one replies to (``reply_to_message``)."""

        def run() -> JSONDict:
            sender = self._register_user(user)
            chat = self._ensure_chat(chat_id, chat_type, title)
            if chat.type == "private" and chat.private_user is None:
                chat.private_user = sender
            chat.members.add(int(sender["id"]))
            entities: list[JSONDict] = []
            if text.startswith("/"):
                command = text.split(None, 1)[0]
                entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(command)})
            replied = None if reply_to is None else self._messages.get((chat.id, reply_to))
            if reply_to is not None and (replied is None or replied.deleted):
                raise ValueError(f"no message {reply_to} in chat {chat_id} to reply to")
            msg = self._new_message(chat, sender, from_bot=False, text=text, entities=entities)
            payload = self._message_api(msg)
            if replied is not None:
                payload["reply_to_message"] = self._message_api(replied)
            self._emit("message", payload)
            return payload

        return self._sync(run)

    def press_button(self, chat_id: int, message_id: int, user: JSONDict, data: str, *, check: bool = True) -> str:
        """Queue a ``callback_query`` update for a bot message; returns the query id.  With ``check``
        the button must currently exist on the message (as a real client guarantees)."""

        def run() -> str:
            sender = self._register_user(user)
            msg = self._messages.get((chat_id, message_id))
            if msg is None or msg.deleted:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            if not msg.from_bot:
                raise ValueError("inline buttons exist only on the bot's messages")
            if check and data not in msg.callback_data:
                raise ValueError(f"message {message_id} has no button with callback_data {data!r}")
            self._chats[chat_id].members.add(int(sender["id"]))
            self._next_query += 1
            query_id = str(4_200_000_000_000_000_000 + self._next_query)
            self._queries[query_id] = _Query(query_id, chat_id, message_id, self.clock.monotonic())
            self._emit(
                "callback_query",
                {
                    "id": query_id,
                    "from": dict(sender),
                    "chat_instance": str(abs(chat_id) * 7919 % 10**12),
                    "message": self._message_api(msg),
                    "data": data,
                },
            )
            return query_id

        return self._sync(run)

    async def callback_answer(self, query_id: str, timeout: float = 5.0) -> CallbackAnswer:
        """Wait until the bot answered the callback query; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            query = self._queries.get(query_id)
            if query is None:
                raise KeyError(f"unknown callback query {query_id}")
            if query.answer is not None:
                return query.answer
            if time.monotonic() >= deadline:
                raise TimeoutError(f"callback query {query_id} was not answered within {timeout}s")
            await asyncio.sleep(0.005)

    def vote(self, poll_id: str, user: JSONDict, option_ids: Iterable[int]) -> bool:
        """A user votes (empty list = retract).  Returns False (and logs a ``vote_rejected`` event)
        when Telegram would refuse it: poll closed, revote on a quiz, members_only, deleted poll."""
        chosen = list(option_ids)

        def run() -> bool:
            poll = self._polls.get(poll_id)
            if poll is None:
                raise KeyError(f"unknown poll {poll_id}")
            sender = self._register_user(user)
            uid = int(sender["id"])
            if len(set(chosen)) != len(chosen) or any(not 0 <= i < len(poll.options) for i in chosen):
                raise ValueError(f"invalid option ids {chosen} for a poll with {len(poll.options)} options")
            if len(chosen) > 1 and not poll.allows_multiple_answers:
                raise ValueError("this poll allows a single answer")
            now = self.clock.monotonic()
            if not poll.is_closed and poll.close_at_mono is not None and now >= poll.close_at_mono:
                self._close_poll(poll, "auto")
            msg = self._messages.get((poll.chat_id, poll.message_id))
            reason: str | None = None
            if poll.is_closed:
                reason = "poll is closed"
            elif msg is None or msg.deleted:
                reason = "poll message was deleted"
            elif poll.members_only and uid not in self._chats[poll.chat_id].members:
                reason = "members only"
            elif poll.votes.get(uid) and not poll.allows_revoting:
                reason = "revoting is not allowed"
            elif not chosen and not poll.votes.get(uid):
                reason = "nothing to retract"
            if reason is not None:
                record = {"poll_id": poll_id, "user_id": uid, "option_ids": chosen, "reason": reason}
                poll.rejected_votes.append({**record, "mono": now})
                self._event("vote_rejected", **record)
                return False
            if chosen:
                poll.votes[uid] = sorted(chosen)
            else:
                poll.votes.pop(uid, None)
            self._event("vote_accepted", poll_id=poll_id, user_id=uid, option_ids=chosen)
            if not poll.is_anonymous:
                self._emit(
                    "poll_answer",
                    {
                        "poll_id": poll_id,
                        "user": dict(sender),
                        "option_ids": sorted(chosen),
                        "option_persistent_ids": [poll.persistent_ids[i] for i in sorted(chosen)],
                    },
                )
            if poll.is_anonymous or self.poll_updates_on_vote:
                self._emit("poll", poll.to_api())
            return True

        return self._sync(run)

    def messages(self, chat_id: int, *, bot_only: bool = False, include_deleted: bool = False) -> list[ChatMessage]:
        """Snapshots of the chat's messages in order (user messages too unless ``bot_only``)."""

        def run() -> list[ChatMessage]:
            chat = self._chats.get(chat_id)
            if chat is None:
                return []
            result = []
            for message_id in chat.order:
                msg = self._messages[(chat_id, message_id)]
                if (msg.deleted and not include_deleted) or (bot_only and not msg.from_bot):
                    continue
                result.append(copy.deepcopy(msg))
            return result

        return self._sync(run)

    def message(self, chat_id: int, message_id: int) -> ChatMessage:
        return self._sync(lambda: copy.deepcopy(self._messages[(chat_id, message_id)]))

    def polls(self, chat_id: int | None = None) -> list[FakePoll]:
        return self._sync(
            lambda: [copy.deepcopy(p) for p in self._polls.values() if chat_id is None or p.chat_id == chat_id]
        )

    def poll(self, poll_id: str) -> FakePoll:
        return self._sync(lambda: copy.deepcopy(self._polls[poll_id]))

    def set_admin(self, chat_id: int, user_id: int, *, owner: bool = False, admin: bool = True) -> None:
        """Make ``user_id`` (a user or the bot itself) an administrator / the owner; ``admin=False``
        demotes back to member."""

        def run() -> None:
            chat = self._ensure_chat(chat_id)
            chat.members.add(user_id)
            if admin:
                chat.admins[user_id] = "creator" if owner else "administrator"
            else:
                chat.admins.pop(user_id, None)

        self._sync(run)

    def bot_membership(
        self,
        chat_id: int,
        by_user: JSONDict,
        new_status: str = "member",
        *,
        old_status: str = "left",
        chat_type: str | None = None,
        title: str | None = None,
    ) -> int:
        """Queue a ``my_chat_member`` update (e.g. the bot was added to a group); returns update_id."""

        def run() -> int:
            sender = self._register_user(by_user)
            chat = self._ensure_chat(chat_id, chat_type, title)
            bot = self.bot_user
            if new_status in ("administrator", "creator"):
                chat.admins[bot["id"]] = new_status
            else:
                chat.admins.pop(bot["id"], None)
            return self._emit(
                "my_chat_member",
                {
                    "chat": chat.to_api(),
                    "from": dict(sender),
                    "date": int(self.clock.time()),
                    "old_chat_member": _member(bot, old_status),
                    "new_chat_member": _member(bot, new_status),
                },
            )

        return self._sync(run)

    def emit_update(self, kind: str, payload: JSONDict) -> int:
        """Queue an arbitrary update ``{"update_id": n, kind: payload}``; returns its update_id."""
        return self._sync(lambda: self._emit(kind, copy.deepcopy(payload)))

    def pending_updates(self) -> list[JSONDict]:
        """Updates queued for getUpdates and not yet confirmed by an offset."""
        return self._sync(lambda: copy.deepcopy(self._updates))

    def inject_error(
        self,
        method: str | None,
        error_code: int,
        description: str,
        count: int = 1,
        *,
        chat_id: int | str | None = None,
        parameters: JSONDict | None = None,
    ) -> None:
        """The next ``count`` matching calls fail with this error (the operation is not performed).
        ``method=None`` matches any method except getUpdates/getMe/webhook management/close/logOut."""
        canonical = None if method is None else _CANONICAL.get(method.lower(), method)
        fault = _Fault(canonical, _norm_chat_id(chat_id), count, error_code, description, parameters)
        self._sync(lambda: self._faults.append(fault))

    def inject_429(
        self,
        method: str | None = None,
        retry_after: int = 5,
        count: int = 1,
        *,
        chat_id: int | str | None = None,
    ) -> None:
        """The next ``count`` matching calls answer HTTP 429 with ``parameters.retry_after``."""
        self.inject_error(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            count,
            chat_id=chat_id,
            parameters={"retry_after": retry_after},
        )

    def clear_faults(self) -> None:
        self._sync(self._faults.clear)

    def calls_for(self, method: str | None = None, chat_id: int | str | None = None) -> list[Call]:
        canonical = None if method is None else _CANONICAL.get(method.lower(), method)
        return [
            c
            for c in list(self.calls)
            if (canonical is None or c.method == canonical) and (chat_id is None or c.chat_id == chat_id)
        ]

    def ops(
        self, chat_id: int | str, methods: Iterable[str] | None = None, *, include_failed: bool = True
    ) -> list[Call]:
        """Calls for ``chat_id`` among ``methods`` (default: the rate-limited operations), by arrival time."""
        wanted = RATE_LIMITED_METHODS if methods is None else frozenset(_CANONICAL.get(m.lower(), m) for m in methods)
        target = _norm_chat_id(chat_id)
        selected = [
            c for c in list(self.calls) if c.chat_id == target and c.method in wanted and (include_failed or c.ok)
        ]
        return sorted(selected, key=lambda c: c.mono)

    def max_ops_in_window(
        self,
        chat_id: int | str,
        window_s: float,
        methods: Iterable[str] | None = None,
        *,
        include_failed: bool = True,
    ) -> int:
        """Max number of operations for the chat whose arrival times fit in any window of
        ``window_s`` seconds (half-open: t_last - t_first < window_s).  Failed attempts count by
        default (Telegram sees them too); answerCallbackQuery is not among the default methods."""
        times = [c.mono for c in self.ops(chat_id, methods, include_failed=include_failed)]
        best = 0
        start = 0
        for end, t in enumerate(times):
            while t - times[start] >= window_s:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def wait_for_call(
        self,
        method: str,
        *,
        chat_id: int | str | None = None,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
        start: int = 0,
    ) -> Call:
        """First call (at index >= ``start`` of ``tg.calls``) matching; waits up to ``timeout``."""
        canonical = _CANONICAL.get(method.lower(), method)
        target = None if chat_id is None else _norm_chat_id(chat_id)
        deadline = time.monotonic() + timeout
        index = start
        while True:
            while index < len(self.calls):
                call = self.calls[index]
                index += 1
                if call.method != canonical or (target is not None and call.chat_id != target):
                    continue
                if predicate is None or predicate(call):
                    return call
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {canonical} call within {timeout}s")
            await asyncio.sleep(0.005)

    async def wait_webhook_idle(self, timeout: float = 5.0) -> None:
        """Wait until every queued webhook update was delivered (or dropped)."""
        deadline = time.monotonic() + timeout
        while self._webhook_pending() or any(not t.done() for t in list(self._wh_tasks.values())):
            if time.monotonic() >= deadline:
                raise TimeoutError("webhook deliveries still pending")
            await asyncio.sleep(0.005)

    async def post_raw_webhook(self, url: str, update: JSONDict, secret: str | None = None) -> httpx.Response:
        """POST an update to a webhook URL like Telegram would, with an arbitrary (or no) secret."""
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            return await client.post(url, json=update, headers=headers)
