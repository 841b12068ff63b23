"""One answer path: an answer taken from the read callback (fast path) and one that went the
queued way are checked by the same code in the same order and get the same replies."""

from __future__ import annotations

from typing import Any

import pytest

from gameserver.ws import PlayerSession
from tests.integration.test_fast_path import in_process  # noqa: F401  (fixture)
from tests.support import create_game, host, player, quiz

#: Answers that exercise every check, in the order a client would meet them.
SEQUENCE: list[dict[str, Any]] = [
    {"type": "answer", "question": "0", "option": 1},  # a field of the wrong type
    {"type": "answer", "question": 0},  # a field missing
    {"type": "answer", "question": 5, "option": 1},  # no such question
    {"type": "answer", "question": 0, "option": 9},  # no such option
    {"type": "answer", "question": 0, "option": 0},  # accepted
    {"type": "answer", "question": 0, "option": 1},  # already answered
]


async def _replies(ws_url: str, base: str) -> list[tuple[str, str | None, int | None]]:
    game = await create_game(base, quiz(2))
    the_host = await host(ws_url, game)
    ann, _ = await player(ws_url, game["pin"], "Ann")
    await player(ws_url, game["pin"], "Bob")  # so Ann's answer does not close the question
    await the_host.send({"type": "start"})
    await ann.recv("question")
    replies: list[tuple[str, str | None, int | None]] = []
    for message in SEQUENCE:
        await ann.send(message)
        reply = await ann.recv(("answer_ack", "error"))
        replies.append((reply["type"], reply.get("code"), reply.get("question")))
    await ann.close()
    await the_host.close()
    return replies


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = PlayerSession.submit_answer

    def spy(self: PlayerSession, message: dict[str, Any], received_ms: int, quiz: Any) -> Any:
        calls.append(1)
        return original(self, message, received_ms, quiz)

    monkeypatch.setattr(PlayerSession, "submit_answer", spy)
    return calls


async def test_fast_and_queued_answers_get_the_same_replies(
    in_process: tuple[str, str], submitted: list[int], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    base, ws = in_process
    fast = await _replies(ws, base)
    assert len(submitted) == len(SEQUENCE)  # the malformed ones are refused in it too
    monkeypatch.setattr(PlayerSession, "start_fast_path", lambda self: None)  # everything queued
    queued = await _replies(ws, base)
    assert queued == fast
    assert fast == [
        ("error", "bad_message", None), ("error", "bad_message", None), ("error", "wrong_question", 5),
        ("error", "invalid_option", 0), ("answer_ack", None, 0), ("error", "already_answered", 0),
    ]
    assert len(submitted) == 2 * len(SEQUENCE)
