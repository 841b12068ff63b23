"""The messages of the Speaking room's WebSocket, checked before anything is relayed.

Client → server (JSON text frames, at most `MAX_MESSAGE_BYTES`):

- `{"type": "chat", "text": "..."}`: 1–`MAX_CHAT_CHARS` characters, relayed to both (with the
  server's time and the sender's role and name) and kept for a late joiner.
- `{"type": "signal", "session": "s1", "description": {"type": "offer"|"answer", "sdp": "...",
  "part": [i, n]}}` (a description larger than a frame is sent in `n` parts, `sdp` a piece of
  it: the server's WebSocket frames are bounded for every socket, `welcome.max_message_bytes`)
  or `{"type": "signal", "session": "s1", "candidate": {candidate, sdpMid, sdpMLineIndex,
  usernameFragment} | null}`: WebRTC signalling, relayed to the other party only. `session`
  names one negotiation, so a peer drops what belongs to an older one.
- `{"type": "ping"}`: answered `{"type": "pong"}`.

Server → client: `welcome`, `peer` (the other party came or left), `chat`, `signal`, `call`
(`{"state": "held"}` once both were in the room), `pong`, and `error` with a stable `code`
(`bad_message`, `unknown_type`, `too_long`, `rate_limited`); an error never closes the room.
Only these fields are relayed, so a client cannot push arbitrary data to the other.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_MESSAGE_BYTES = 64 * 1024
MAX_CHAT_CHARS = 1000
MAX_SDP_CHARS = 60_000
MAX_CANDIDATE_CHARS = 2000
MAX_SESSION_CHARS = 64
MAX_PARTS = 64


class BadRoomMessage(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _bad(message: str) -> BadRoomMessage:
    return BadRoomMessage("bad_message", message)


def _short_text(value: object, limit: int, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"{name} must be a string of at most {limit} characters")
    return value


def _description(value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in ("offer", "answer"):
        raise _bad("description must be {type: offer|answer, sdp, part?}")
    checked: dict[str, Any] = {"type": value["type"], "sdp": _short_text(value.get("sdp"), MAX_SDP_CHARS, "sdp")}
    part = value.get("part")
    if part is not None:
        if (not isinstance(part, list) or len(part) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in part)
                or not 0 <= part[0] < part[1] <= MAX_PARTS):
            raise _bad(f"part is [index, count] with count at most {MAX_PARTS}")
        checked["part"] = part
    return checked


def _candidate(value: object) -> dict[str, Any] | None:
    if value is None:
        return None  # the end of the candidates
    if not isinstance(value, dict):
        raise _bad("candidate must be an object or null")
    index = value.get("sdpMLineIndex")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64):
        raise _bad("sdpMLineIndex must be a small whole number or null")
    return {
        "candidate": _short_text(value.get("candidate"), MAX_CANDIDATE_CHARS, "candidate"),
        "sdpMid": _short_text(value.get("sdpMid"), MAX_SESSION_CHARS, "sdpMid", optional=True),
        "sdpMLineIndex": index,
        "usernameFragment": _short_text(value.get("usernameFragment"), 256, "usernameFragment", optional=True),
    }


def parse(data: str | bytes) -> dict[str, Any]:
    """The checked message of one frame, rebuilt from its known fields only."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _bad("messages are JSON objects") from exc
    if not isinstance(message, dict):
        raise _bad("messages are JSON objects")
    kind = message.get("type")
    if kind == "ping":
        return {"type": "ping"}
    if kind == "chat":
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("chat needs a text")
        text = text.strip()
        if len(text) > MAX_CHAT_CHARS:
            raise BadRoomMessage("too_long", f"a chat message is at most {MAX_CHAT_CHARS} characters")
        return {"type": "chat", "text": text}
    if kind == "signal":
        session = message.get("session")
        if not isinstance(session, str) or not 0 < len(session) <= MAX_SESSION_CHARS:
            raise _bad(f"signal needs a session of 1-{MAX_SESSION_CHARS} characters")
        has_description, has_candidate = "description" in message, "candidate" in message
        if has_description == has_candidate:
            raise _bad("a signal carries either a description or a candidate")
        if has_description:
            return {"type": "signal", "session": session, "description": _description(message["description"])}
        return {"type": "signal", "session": session, "candidate": _candidate(message["candidate"])}
    raise BadRoomMessage("unknown_type", "message types: chat, signal, ping")


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
