"""What a host does in the Telegram tests, on the host screen's protocol client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.support import QUIET, Client


async def close_when_answered(
    screen: Client, question: int, answers: int, timeout: float = 15, skip: Iterable[str] = QUIET
) -> dict[str, Any]:
    """The host closes `question` as soon as its answer counter shows `answers`; its reveal.

    An attached group holds every question open until its deadline (its members may still
    answer), so a test that has all the answers it waits for moves on as a host would instead
    of sitting out the time limit. The `next` names the question, so it closes this one and
    nothing else. If the question closes first (its deadline, or the game closing it early when
    it should not have), that reveal is returned as it is, for the test's checks to judge.
    """
    skipping = set(skip) - {"answer_count", "reveal"}
    while True:
        message = await screen.recv({"answer_count", "reveal"}, timeout=timeout, skip=skipping)
        if message["type"] == "reveal":
            return message
        if message["question"] == question and message["answered"] >= answers:
            await screen.send({"type": "next", "question": question, "phase": "ACTIVE"})
            return await screen.recv("reveal", timeout=timeout, skip=skipping | {"answer_count"})
