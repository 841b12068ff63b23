"""The bridge's pure parts: budget, outbox ordering and faults, callback data, names."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import Hashable
from typing import Any

import pytest
from telegram.error import BadRequest, RetryAfter

from statemachine.names import MAX_NAME_LENGTH, normalize_name
from transports.telegram import callbacks, names, texts
from transports.telegram.budget import RollingBudget
from transports.telegram.outbox import Op, Outbox, Outgoing, Priority


def test_budget_counts_from_start_to_end_plus_window() -> None:
    budget = RollingBudget(3, 10.0, reserve=1)
    for t in (0.0, 1.0):
        budget.end(budget.begin(t), t + 0.5)
    assert budget.wait_s(2.0, urgent=False) == pytest.approx(8.5)  # 2 held, background cap 2
    assert budget.wait_s(2.0, urgent=True) == 0.0  # the reserve is for urgent work
    budget.end(budget.begin(2.0), 2.5)
    assert budget.wait_s(3.0, urgent=True) == pytest.approx(7.5)  # the first slot frees at 0.5 + 10
    assert budget.in_use(10.6) == 2


def test_budget_paces_background_work() -> None:
    budget = RollingBudget(20, 60.0)
    assert budget.reserve == 4 and budget.background_gap_s == 3.0
    budget.end(budget.begin(0.0, paced=True), 0.1)
    assert budget.wait_s(1.0, urgent=False, paced=True) == pytest.approx(2.0)
    assert budget.wait_s(1.0, urgent=True) == 0.0


class Recorder:
    def __init__(self, failures: dict[str, list[Exception]] | None = None) -> None:
        self.sent: list[tuple[str, float]] = []
        self.failures = failures or {}

    def op(self, name: str, priority: Priority, key: Hashable | None = None, edits: int | None = None,
           content: Hashable | None = None) -> Op:
        async def call() -> Any:
            self.sent.append((name, time.monotonic()))
            if self.failures.get(name):
                raise self.failures[name].pop(0)
            return True

        async def render() -> Outgoing:
            return Outgoing(call=call, edits=edits, content=content)

        return Op(priority, render, key=key)


async def test_outbox_sends_urgent_first_and_coalesces_by_key() -> None:
    rec = Recorder()
    outbox = Outbox(1, RollingBudget(100, 1.0))
    outbox.put(rec.op("lobby-edit-1", Priority.BACKGROUND, key="lobby"))
    outbox.put(rec.op("lobby-edit-2", Priority.BACKGROUND, key="lobby"))
    outbox.put(rec.op("reply", Priority.NORMAL))
    outbox.put(rec.op("question", Priority.URGENT))
    await asyncio.sleep(0)
    await asyncio.wait_for(outbox.idle(), 2)
    assert [name for name, _ in rec.sent] == ["question", "reply", "lobby-edit-2"]
    await outbox.close()


async def test_outbox_skips_identical_edits_and_accepts_not_modified() -> None:
    rec = Recorder({"edit-b": [BadRequest("Message is not modified: specified new message content ...")]})
    outbox = Outbox(1, RollingBudget(100, 1.0))
    outbox.put(rec.op("edit-a", Priority.NORMAL, edits=7, content="x"))
    outbox.put(rec.op("edit-a-again", Priority.NORMAL, edits=7, content="x"))  # same content: not sent
    outbox.put(rec.op("edit-b", Priority.NORMAL, edits=8, content="y"))  # Telegram says not modified
    outbox.put(rec.op("edit-b-again", Priority.NORMAL, edits=8, content="y"))  # now known: not sent
    await asyncio.sleep(0)
    await asyncio.wait_for(outbox.idle(), 2)
    assert [name for name, _ in rec.sent] == ["edit-a", "edit-b"]
    await outbox.close()


async def test_outbox_pauses_the_chat_on_429_and_retries_first() -> None:
    rec = Recorder({"question": [RetryAfter(dtm.timedelta(seconds=0.3))]})
    outbox = Outbox(1, RollingBudget(100, 1.0))
    outbox.put(rec.op("question", Priority.URGENT))
    outbox.put(rec.op("results", Priority.URGENT))
    await asyncio.sleep(0)
    await asyncio.wait_for(outbox.idle(), 3)
    assert [name for name, _ in rec.sent] == ["question", "question", "results"]
    assert rec.sent[1][1] - rec.sent[0][1] >= 0.3
    await outbox.close()


async def test_outbox_waits_for_the_budget() -> None:
    rec = Recorder()
    outbox = Outbox(1, RollingBudget(2, 0.4, reserve=0))
    for i in range(4):
        outbox.put(rec.op(f"m{i}", Priority.URGENT))
    await asyncio.sleep(0)
    await asyncio.wait_for(outbox.idle(), 3)
    times = [t for _, t in rec.sent]
    assert times[2] - times[0] >= 0.4 and times[3] - times[1] >= 0.4
    await outbox.close()


def test_callback_data_is_short_scoped_and_parsed_back() -> None:
    tag = callbacks.new_tag()
    data = callbacks.answer_data("123456", tag, 199, 5)
    assert len(data.encode()) <= 64
    assert callbacks.parse_press(data) == callbacks.AnswerPress("123456", tag, 199, 5)
    assert callbacks.parse_press(callbacks.join_data("123456", tag)) == callbacks.JoinPress("123456", tag)
    for foreign in (None, "", "a:123456", "a:12345:abcdef:1:1", "j:123456:ABCDEF", "x" * 64):
        assert callbacks.parse_press(foreign) is None
    payload = callbacks.host_link_payload("123456", "T" * 43)
    assert payload is not None and len(payload) <= 64
    assert callbacks.parse_host_link(payload) == ("123456", "T" * 43)


def test_telegram_names_fit_the_game_rules_with_suffixes() -> None:
    assert names.clean_name("  Ann \u200d Lee ") == "Ann Lee"
    assert names.clean_name("\u200b", "ann_l") == "ann_l"
    assert names.clean_name(None) == names.FALLBACK_NAME
    long = "Alexandra Konstantinopolskaya"
    base = names.clean_name(long)
    assert base == long[:MAX_NAME_LENGTH].strip()
    for candidate in list(names.candidates(base))[:12]:
        assert normalize_name(candidate) == candidate and len(candidate) <= MAX_NAME_LENGTH
    assert list(names.candidates("Ann"))[:3] == ["Ann", "Ann (2)", "Ann (3)"]


def test_background_work_leaves_what_the_last_windows_urgent_work_needs() -> None:
    budget = RollingBudget(20, 60.0)
    for t in range(10):  # a brisk host: ten urgent operations in the last minute
        budget.end(budget.begin(float(t), urgent=True), t + 0.3)
    # background may hold only 20 - (10 + 2) = 8 slots, and never more than 16 (the reserve)
    assert budget.capacity(urgent=False, now=10.0) == 8
    for t in range(8):
        assert budget.wait_s(10.0 + t * 3, urgent=False) == 0.0
        budget.end(budget.begin(10.0 + t * 3, paced=True), 10.0 + t * 3 + 0.3)
    now = 10.0 + 8 * 3
    assert budget.wait_s(now, urgent=False) > 0  # full for background ...
    assert budget.wait_s(now, urgent=True) == 0.0  # ... while a question still goes out at once
    # as the urgent operations age out of the window, background room comes back
    assert budget.wait_s(now, urgent=False) == pytest.approx(60.3 - now)
    idle = RollingBudget(20, 60.0)
    assert idle.capacity(urgent=False, now=0.0) == 16  # no game running: only the reserve is kept


def test_a_question_fits_a_poll_only_when_telegram_shows_it_faithfully() -> None:
    assert texts.fits_a_poll(0, 3, "Capital of France?", ["Paris", "Lyon"])
    assert not texts.fits_a_poll(0, 3, "x" * 300, ["a", "b"])  # "1/3. " + 300 characters
    same_start = "y" * 100
    assert not texts.fits_a_poll(0, 3, "Q", [same_start + "1", same_start + "2"])  # clipped alike
    assert not texts.fits_a_poll(0, 3, "Q", ["Yes", "yes"])  # Telegram compares them as equal
    assert texts.fits_a_poll(0, 3, "Q", ["y" * 100, "z" * 100])
