"""One outbound queue per chat: priorities, a rolling budget, 429 pauses, coalesced edits.

Theory of operation. Everything the bridge wants to show in a chat is an `Op` put in that
chat's `Outbox`. One worker task per chat sends them one at a time, most urgent first
(questions, results, podium), then ordinary posts, then background edits (lobby count,
"who answered" indicator, closing a question). An op renders its request only when it is its
turn, so an op waiting behind others always sends the newest state; ops with the same `key`
coalesce into one. An edit whose content equals what the message already shows is skipped
without spending budget, and Telegram's "message is not modified" counts as done.

Before each request the worker waits until the chat is not paused and the `RollingBudget`
has room (background work leaves a reserve for urgent work). A 429 pauses the whole chat for
`retry_after` (plus a margin) and puts the op back at the front of its priority: nothing is
sent to that chat before the pause ends. Bound: at most `max_pending` ops wait; beyond it the
oldest background op is dropped (background work is always re-derivable from newer state).

With a `ChatLedger` (several processes) every operation and pause is also written to Redis,
and the worker recalls them before its first request: a process that takes over the bot keeps
to the budget the previous leader spent in the last window (see `ledger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from telegram import Message
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.warnings import PTBDeprecationWarning

from transports.telegram import usage
from transports.telegram.budget import RollingBudget, Slot
from transports.telegram.ledger import ChatLedger

log = logging.getLogger(__name__)

RETRY_MARGIN_S = 0.25  # added to every retry_after: Telegram's clock and ours differ a little
NETWORK_RETRIES = 2


class Priority(IntEnum):
    URGENT = 0  # a question, its results, the podium
    NORMAL = 1  # the lobby post, answers to commands
    BACKGROUND = 2  # edits: lobby count, answered indicator, closing a question, stopPoll


@dataclass(frozen=True)
class Outgoing:
    """A rendered request: `call` performs it; `edits` names the message it changes and
    `content` what that message shows afterwards (for the identical-edit skip)."""

    call: Callable[[], Awaitable[Any]]
    edits: int | None = None
    content: Hashable | None = None


Render = Callable[[], Awaitable["Outgoing | None"]]  # called when it is the op's turn
Done = Callable[[Any, float], None]  # (result, time.monotonic() when the call returned)


@dataclass
class Op:
    priority: Priority
    render: Render
    key: Hashable | None = None
    on_done: Done | None = None
    on_fail: Callable[[BaseException], None] | None = None
    seq: int = 0
    attempts: int = field(default=0, compare=False)


def retry_after_s(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


class Outbox:
    def __init__(
        self,
        chat_id: int,
        budget: RollingBudget,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = 512,
        ledger: ChatLedger | None = None,
    ) -> None:
        self.chat_id = chat_id
        self.budget = budget
        self.clock = clock
        self.ledger = ledger
        self._recalled = ledger is None
        self.max_pending = max_pending
        self.paused_until = 0.0
        self._pending: list[Op] = []
        self._keyed: dict[Hashable, Op] = {}
        self._shown: OrderedDict[int, Hashable] = OrderedDict()
        self._seq = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    # -- queueing ------------------------------------------------------------------------

    def put(self, op: Op) -> None:
        if op.key is not None and (queued := self._keyed.get(op.key)) is not None:
            queued.render, queued.on_done, queued.on_fail = op.render, op.on_done, op.on_fail
            queued.priority = min(queued.priority, op.priority)
            self._wake.set()
            return
        if len(self._pending) >= self.max_pending and not self._drop_background(op):
            return
        self._seq += 1
        op.seq = self._seq
        self._pending.append(op)
        if op.key is not None:
            self._keyed[op.key] = op
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"telegram-outbox:{self.chat_id}")

    def _drop_background(self, incoming: Op) -> bool:
        """Make room; False when the incoming op is itself the one to drop."""
        background = [op for op in self._pending if op.priority is Priority.BACKGROUND]
        if not background:
            return incoming.priority is not Priority.BACKGROUND
        victim = min(background, key=lambda op: op.seq)
        self._remove(victim)
        log.warning("chat %s: outbound queue full, dropped a background update", self.chat_id)
        return True

    def _remove(self, op: Op) -> None:
        self._pending.remove(op)
        if op.key is not None and self._keyed.get(op.key) is op:
            del self._keyed[op.key]

    def _peek(self) -> Op | None:
        return min(self._pending, key=lambda op: (op.priority, op.seq), default=None)

    def shows(self, message_id: int) -> Hashable | None:
        """What we last made this message show (None: unknown)."""
        return self._shown.get(message_id)

    def _remember(self, message_id: int, content: Hashable) -> None:
        self._shown[message_id] = content
        self._shown.move_to_end(message_id)
        while len(self._shown) > 256:
            self._shown.popitem(last=False)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def idle(self) -> None:
        """Wait until nothing is queued or in flight."""
        await self._idle.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the worker ----------------------------------------------------------------------

    async def _recall(self) -> None:
        """Seed the budget and the pause with what other processes spent in this chat."""
        assert self.ledger is not None
        recalled = await self.ledger.recall()
        now, wall = self.clock(), time.time()
        self.budget.restore([(now - (wall - at), urgent) for at, urgent in recalled.ended])
        if recalled.paused_until > wall:
            self.paused_until = max(self.paused_until, now + recalled.paused_until - wall)
        self._recalled = True

    def _wall(self, at: float) -> float:
        """An instant of `clock` on the wall clock (what the ledger shares between processes)."""
        return time.time() - (self.clock() - at)

    async def _begin(self, op: Op) -> tuple[Slot, str | None]:
        now = self.clock()
        slot = self.budget.begin(now, paced=op.priority is Priority.BACKGROUND, urgent=op.priority is Priority.URGENT)
        usage.operation_sent(self.chat_id, op.priority.name.lower(), self.budget.in_use(now), self.budget.limit)
        slot_id = await self.ledger.began(slot.urgent) if self.ledger is not None else None
        return slot, slot_id

    async def _end(self, slot: Slot, slot_id: str | None) -> float:
        now = self.clock()
        self.budget.end(slot, now)
        if self.ledger is not None:
            await self.ledger.ended(slot_id, self._wall(now))
        return now

    async def _run(self) -> None:
        if not self._recalled:
            await self._recall()
        while True:
            op = self._peek()
            if op is None:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            now = self.clock()
            delay = max(self.paused_until - now, self._budget_wait(op, now))
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(delay, 3600.0))
                continue  # re-pick: something more urgent may have arrived meanwhile
            self._remove(op)
            try:
                await self._send(op)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("chat %s: an outbound update failed", self.chat_id)

    def _budget_wait(self, op: Op, now: float) -> float:
        """Urgent ops may use the reserve; background ops are also spread out in time."""
        return self.budget.wait_s(now, urgent=op.priority is Priority.URGENT, paced=op.priority is Priority.BACKGROUND)

    async def _send(self, op: Op) -> None:
        outgoing = await op.render()
        if outgoing is None:
            return
        shown = self.shows(outgoing.edits) if outgoing.edits is not None else None
        if shown is not None and shown == outgoing.content:
            return  # identical edit: Telegram would answer "message is not modified"
        slot, slot_id = await self._begin(op)
        try:
            result = await outgoing.call()
        except RetryAfter as error:
            usage.throttled()
            await self._end(slot, slot_id)
            self.paused_until = max(self.paused_until, self.clock() + retry_after_s(error) + RETRY_MARGIN_S)
            if self.ledger is not None:
                await self.ledger.paused(self._wall(self.paused_until))
            log.warning("chat %s: 429, paused for %.1f s", self.chat_id, retry_after_s(error))
            self._requeue(op)
            return
        except BadRequest as error:
            await self._end(slot, slot_id)
            if "not modified" in error.message.lower():
                if outgoing.edits is not None and outgoing.content is not None:
                    self._remember(outgoing.edits, outgoing.content)
                return
            self._failed(op, error)
            return
        except (TimedOut, NetworkError) as error:
            await self._end(slot, slot_id)
            op.attempts += 1
            if op.attempts <= NETWORK_RETRIES and op.priority is not Priority.BACKGROUND:
                await asyncio.sleep(0.5 * op.attempts)
                self._requeue(op)
            else:
                self._failed(op, error)
            return
        except TelegramError as error:
            await self._end(slot, slot_id)
            self._failed(op, error)
            return
        except BaseException:
            self.budget.end(slot, self.clock())  # cancelled: the ledger keeps it in flight (counted)
            raise
        done = await self._end(slot, slot_id)
        if outgoing.content is not None:
            target = result.message_id if isinstance(result, Message) else outgoing.edits
            if target is not None:
                self._remember(target, outgoing.content)
        if op.on_done is not None:
            op.on_done(result, done)

    def _requeue(self, op: Op) -> None:
        if op.key is not None and (newer := self._keyed.get(op.key)) is not None:
            newer.priority = min(newer.priority, op.priority)
            newer.seq = min(newer.seq, op.seq)  # the newer render replaces the failed one
            return
        self._pending.append(op)  # keeps its old seq: first in line again
        if op.key is not None:
            self._keyed[op.key] = op

    def _failed(self, op: Op, error: BaseException) -> None:
        log.warning("chat %s: Telegram refused an update: %s", self.chat_id, error)
        if op.on_fail is not None:
            op.on_fail(error)
