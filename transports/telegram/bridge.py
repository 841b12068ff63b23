"""The Telegram bridge: which game each chat shows, and routing of presses and votes to it.

One `ChatSession` per attached chat (attaching another game replaces it), one `Outbox` per
chat (it outlives sessions: the budget belongs to the chat, not to a game). Host rights are
granted per Telegram user and PIN after the host token was checked in a private chat; `/quiz
PIN` in a group then only needs the grant and admin rights there, so no secret ever appears
in a group. Grants live in memory for `grant_ttl_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, User

from statemachine.errors import ClientError, Finished
from transports.telegram import callbacks, texts, views
from transports.telegram.budget import RollingBudget
from transports.telegram.outbox import Op, Outbox, Outgoing, Priority
from transports.telegram.quiz_port import QuizPort
from transports.telegram.session import ChatSession

log = logging.getLogger(__name__)

MODES = ("polling", "inline")
MAX_POLLS = 4096
MAX_GRANTS = 10_000


@dataclass(frozen=True)
class BridgeConfig:
    budget_ops: int = 20
    budget_window_s: float = 60.0
    grant_ttl_s: float = 12 * 3600


class TelegramBridge:
    def __init__(
        self, port: QuizPort, bot: Bot, config: BridgeConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.port = port
        self.bot = bot
        self.config = config or BridgeConfig()
        self.clock = clock
        self.sessions: dict[int, ChatSession] = {}
        self.outboxes: dict[int, Outbox] = {}
        self.polls: OrderedDict[str, tuple[ChatSession, int]] = OrderedDict()
        self.grants: OrderedDict[tuple[int, str], tuple[str, float]] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- chats and games -----------------------------------------------------------------

    def outbox(self, chat_id: int) -> Outbox:
        outbox = self.outboxes.get(chat_id)
        if outbox is None:
            budget = RollingBudget(self.config.budget_ops, self.config.budget_window_s)
            outbox = self.outboxes[chat_id] = Outbox(chat_id, budget, clock=self.clock)
        return outbox

    async def attach(self, pin: str, chat_id: int, mode: str) -> ChatSession:
        """Show game `pin` in the chat (the caller has checked the host's rights); attaching the
        game the chat already shows posts its lobby again. Raises UnknownGame, Finished."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        summary = await self.port.summary(pin)
        if summary.phase == "FINISHED":
            raise Finished("this game is over")
        same = self.sessions.get(chat_id)
        if same is not None and same.pin == pin and not same.stopped:
            same.mode = mode  # from the next question on
            same.repost_lobby()  # players already in keep their seats
            return same
        old = self.sessions.pop(chat_id, None)
        if old is not None:
            await old.stop()
        session = ChatSession(
            port=self.port, bot=self.bot, outbox=self.outbox(chat_id), chat_id=chat_id, pin=pin,
            tag=callbacks.new_tag(), mode=mode, title=summary.title, count=summary.players, phase=summary.phase,
            spawn=self.spawn, on_poll=self._register_poll, clock=self.clock,
        )
        self.sessions[chat_id] = session
        await session.start()
        return session

    async def detach(self, chat_id: int) -> None:
        session = self.sessions.pop(chat_id, None)
        if session is not None:
            await session.stop()

    def _register_poll(self, poll_id: str, session: ChatSession, question: int) -> None:
        self.polls[poll_id] = (session, question)
        while len(self.polls) > MAX_POLLS:
            self.polls.popitem(last=False)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Telegram bridge task failed", exc_info=task.exception())

    def reply(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """A message for a chat, through its outbox like everything else."""
        outgoing = views.send_text(self.bot, chat_id, text, markup)

        async def render() -> Outgoing:
            return outgoing

        self.outbox(chat_id).put(Op(Priority.NORMAL, render))

    async def stop(self) -> None:
        for chat_id in list(self.sessions):
            await self.detach(chat_id)
        for outbox in self.outboxes.values():
            await outbox.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- host rights ---------------------------------------------------------------------

    async def grant(self, user_id: int, pin: str, host_token: str) -> bool:
        """Remember that this user proved to host game `pin`; False for a wrong token."""
        if not await self.port.verify_host(pin, host_token):
            return False
        key = (user_id, pin)
        self.grants.pop(key, None)
        self.grants[key] = (host_token, self.clock() + self.config.grant_ttl_s)
        while len(self.grants) > MAX_GRANTS:
            self.grants.popitem(last=False)
        return True

    async def is_granted(self, user_id: int, pin: str) -> bool:
        entry = self.grants.get((user_id, pin))
        if entry is None:
            return False
        token, expires = entry
        if self.clock() > expires or not await self.port.verify_host(pin, token):
            del self.grants[(user_id, pin)]
            return False
        return True

    # -- updates -------------------------------------------------------------------------

    async def press(self, chat_id: int, user: User, data: str | None, received_mono: float) -> str:
        """A button press in a chat; the toast to answer it with."""
        press = callbacks.parse_press(data)
        if press is None:
            return "This button is no longer active"
        session = self.sessions.get(chat_id)
        if session is None or session.pin != press.pin or session.tag != press.tag:
            return "This game is over"
        if isinstance(press, callbacks.JoinPress):
            if session.phase == "FINISHED":
                return "This game is over"
            try:
                seat, new = await session.seat_for(user)
            except ClientError as error:
                return texts.refusal(error.code)
            return f"✅ You're in as {seat.name}!" if new else f"You're already in as {seat.name}"
        return await session.answer(user, press.question, press.option, received_mono)

    async def poll_answer(
        self, poll_id: str, user: User | None, option_ids: tuple[int, ...], received_mono: float
    ) -> None:
        """A vote in one of our quiz polls (Telegram lets nobody vote twice in a quiz)."""
        found = self.polls.get(poll_id)
        if found is None or user is None or not option_ids:
            return
        session, question = found
        if session.stopped:
            return  # the game ended, or the chat shows another game now
        toast = await session.answer(user, question, option_ids[0], received_mono)
        log.debug("poll answer of %s in chat %s: %s", user.id, session.chat_id, toast)
