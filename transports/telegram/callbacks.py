"""What travels through Telegram: button `callback_data` and `/start` deep-link payloads.

`callback_data` is 1-64 bytes and comes back verbatim from any client, however stale, so
every button names its game (PIN), the attachment (`tag`: a short random id, fresh each time a
game is attached to a chat, so a button of an earlier game that reused the PIN is refused) and,
for answers, the question: a press on an old question's button can always be recognised.

    j:<pin>:<tag>                 the Join button
    a:<pin>:<tag>:<question>:<option>   an answer button

A deep link `https://t.me/<bot>?start=<payload>` hands the bot a payload of up to 64 characters
from [A-Za-z0-9_-]: `h<pin><host token>` authorises the user who opens it as the host of that
game (the token travels to the bot's private chat, never to a group).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

MAX_CALLBACK_BYTES = 64
MAX_START_PAYLOAD = 64
_TAG_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_PIN = r"[0-9]{6}"
_TAG = r"[a-z2-9]{6}"
_JOIN_RE = re.compile(rf"^j:({_PIN}):({_TAG})$")
_ANSWER_RE = re.compile(rf"^a:({_PIN}):({_TAG}):([0-9]{{1,4}}):([0-9]{{1,2}})$")
_HOST_LINK_RE = re.compile(rf"^h({_PIN})([A-Za-z0-9_-]{{16,57}})$")


def new_tag() -> str:
    return "".join(secrets.choice(_TAG_ALPHABET) for _ in range(6))


@dataclass(frozen=True)
class JoinPress:
    pin: str
    tag: str


@dataclass(frozen=True)
class AnswerPress:
    pin: str
    tag: str
    question: int
    option: int


def join_data(pin: str, tag: str) -> str:
    return _checked(f"j:{pin}:{tag}")


def answer_data(pin: str, tag: str, question: int, option: int) -> str:
    return _checked(f"a:{pin}:{tag}:{question}:{option}")


def _checked(data: str) -> str:
    if not 1 <= len(data.encode()) <= MAX_CALLBACK_BYTES:
        raise ValueError(f"callback_data must be 1-{MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def parse_press(data: str | None) -> JoinPress | AnswerPress | None:
    """The press a button's data stands for; None for anything we did not make."""
    if not data:
        return None
    if match := _JOIN_RE.match(data):
        return JoinPress(match[1], match[2])
    if match := _ANSWER_RE.match(data):
        return AnswerPress(match[1], match[2], int(match[3]), int(match[4]))
    return None


def host_link_payload(pin: str, host_token: str) -> str | None:
    """The /start payload that authorises its opener as host; None if the token cannot fit."""
    payload = f"h{pin}{host_token}"
    return payload if _HOST_LINK_RE.match(payload) and len(payload) <= MAX_START_PAYLOAD else None


def parse_host_link(payload: str) -> tuple[str, str] | None:
    """(pin, host_token) from a /start payload made by `host_link_payload`."""
    match = _HOST_LINK_RE.match(payload)
    return (match[1], match[2]) if match else None
