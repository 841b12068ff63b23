"""The Telegram bridge: which game each chat shows, and routing of presses and votes to it.

One `ChatSession` per attached chat, one `Outbox` per chat (it outlives sessions: the budget
belongs to the chat, not to a game). Host rights are granted per Telegram user and PIN after
the host token was checked in a private chat; `/quiz PIN` in a group (or the HTTP attach) then
needs that grant *and* admin rights in the group, checked with getChatMember, so no secret ever
appears in a group and nobody attaches a game to a group they do not run. A game running in a
chat is never displaced by another game: `/stopquiz` (an admin) or the game's end frees the
chat. Grants last `grant_ttl_s`.

Several processes: with a `SharedState` (Redis) grants and attached chats are shared, and only
the process that `leading` runs sessions; the others check and record attachments, which the
leader picks up in `reconcile` (and a new leader resumes with the same button tags, seats and
posted questions). An attach records the chat's game with a compare-and-set, so of two processes
attaching games to one chat at once exactly one wins and the other answers `chat_busy`.
Without shared state, everything lives in this process.

A poll vote can reach us before the sendPoll answer that tells us the poll's id (both travel
back from Telegram separately): such votes wait in `_early_votes` (bounded, `EARLY_VOTE_TTL_S`)
and are counted, with their own receive time, once the poll is known.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, User
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from statemachine.errors import ClientError, Finished
from transports.telegram import callbacks, texts, views
from transports.telegram.access import HostGrants, MemberReplies
from transports.telegram.budget import RollingBudget
from transports.telegram.outbox import Op, Outbox, Outgoing, Priority
from transports.telegram.quiz_port import QuizPort
from transports.telegram.session import ChatSession
from transports.telegram.shared import ChatRecord, SharedState

log = logging.getLogger(__name__)

MODES = ("polling", "inline")
MAX_POLLS = 4096
MAX_EARLY_VOTES = 4096
EARLY_VOTE_TTL_S = 30.0
MEMBER_REPLY_EVERY_S = 300.0  # at most one answer per chat to non-admins' commands this often
CLAIM_ATTEMPTS = 3  # compare-and-set rounds of an attach before the chat counts as busy
BUSY = "this group shows another game; an admin can end that with /stopquiz"
PRIVATE_OPS_PER_S = 1.0  # a private chat's limit is ~1 message a second, not a group's 20 a minute


class ChatBusy(ClientError):
    """The chat shows another game that is still running."""

    code = "chat_busy"
    http_status = 409


class NotChatAdmin(ClientError):
    """The Telegram user is not an admin of the chat (or the bot cannot see the chat)."""

    code = "not_chat_admin"
    http_status = 403


class NoGrant(ClientError):
    """The Telegram user has not proved, in a private chat with the bot, to host the game."""

    code = "no_telegram_grant"
    http_status = 403


@dataclass(frozen=True)
class BridgeConfig:
    budget_ops: int = 20
    budget_window_s: float = 60.0
    grant_ttl_s: float = 12 * 3600


class TelegramBridge:
    def __init__(
        self, port: QuizPort, bot: Bot, config: BridgeConfig | None = None, clock: Callable[[], float] = time.monotonic,
        shared: SharedState | None = None,
    ) -> None:
        self.port = port
        self.bot = bot
        self.config = config or BridgeConfig()
        self.clock = clock
        self.shared = shared
        self.leading = shared is None  # with shared state, only once this process holds the lease
        self.sessions: dict[int, ChatSession] = {}
        self.outboxes: dict[int, Outbox] = {}
        self.polls: OrderedDict[str, tuple[ChatSession, int]] = OrderedDict()
        self.host_grants = HostGrants(port, shared, self.config.grant_ttl_s, clock)
        self.member_replies = MemberReplies(MEMBER_REPLY_EVERY_S, clock)
        self._early_votes: OrderedDict[str, list[tuple[User, tuple[int, ...], float]]] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._attaching = asyncio.Lock()  # an attach and a reconcile never start one chat's session twice

    # -- chats and games -----------------------------------------------------------------

    def outbox(self, chat_id: int) -> Outbox:
        outbox = self.outboxes.get(chat_id)
        if outbox is None:
            ops = self.config.budget_ops
            if chat_id > 0:  # a private chat (groups' ids are negative): a solo exam's pace
                ops = max(ops, int(self.config.budget_window_s * PRIVATE_OPS_PER_S))
            budget = RollingBudget(ops, self.config.budget_window_s)
            # shared: what other leaders spent in this chat counts too (a failover mid-minute)
            ledger = None if self.shared is None else self.shared.ledger(chat_id, self.config.budget_window_s)
            outbox = self.outboxes[chat_id] = Outbox(chat_id, budget, clock=self.clock, ledger=ledger)
        return outbox

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        """Whether Telegram says this user administers (or owns) the chat."""
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except TelegramError:
            return False
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def attach_as(self, pin: str, chat_id: int, mode: str, user_id: int) -> None:
        """`attach` for a Telegram user who must hold the game's grant and administer the chat.
        Raises NoGrant, NotChatAdmin, ChatBusy, UnknownGame, Finished."""
        if not await self.is_granted(user_id, pin):
            raise NoGrant("prove you host this game first: /host in a private chat with the bot")
        if not await self.is_admin(chat_id, user_id):
            raise NotChatAdmin("only an admin of the group can show a game there")
        await self.attach(pin, chat_id, mode)

    async def attach(self, pin: str, chat_id: int, mode: str) -> None:
        """Show game `pin` in the chat (the caller has checked the host's rights); attaching the
        game the chat already shows posts its lobby again. Raises UnknownGame, Finished, and
        ChatBusy while the chat shows another game that is not over."""
        async with self._attaching:
            await self._attach(pin, chat_id, mode)

    async def _attach(self, pin: str, chat_id: int, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        summary = await self.port.summary(pin)
        if summary.phase == "FINISHED":
            raise Finished("this game is over")
        for _ in range(CLAIM_ATTEMPTS):
            # read, decide, then compare-and-set: another process attaching to this chat at the
            # same instant makes the set fail, and the next read sees its game (still running)
            current = await self._shown(chat_id)
            if current is not None and current.pin == pin:
                if not await self._record(chat_id, replace(current, mode=mode), current.tag):
                    continue
                same = self.sessions.get(chat_id)
                if same is not None and not same.stopped:
                    same.mode = mode  # from the next question on
                    same.repost_lobby()  # players already in keep their seats
                return
            if current is not None and await self._still_running(current.pin):
                raise ChatBusy(BUSY)
            record = ChatRecord(pin, mode, callbacks.new_tag())
            if await self._record(chat_id, record, None if current is None else current.tag):
                break
        else:
            raise ChatBusy(BUSY)  # the chat keeps changing under us: others are attaching there
        if self.leading:
            await self._run(chat_id, record, summary.title, summary.players, summary.phase)

    async def _shown(self, chat_id: int) -> ChatRecord | None:
        if self.shared is not None:
            return await self.shared.chat(chat_id)
        session = self.sessions.get(chat_id)
        if session is not None and not session.stopped:
            return ChatRecord(session.pin, session.mode, session.tag)
        return None

    async def _record(self, chat_id: int, record: ChatRecord, expected_tag: str | None) -> bool:
        """Record what the chat shows if it still shows `expected_tag` (False: it changed)."""
        if self.shared is None:
            return True  # one process: the `_attaching` lock orders attaches
        return await self.shared.claim_chat(chat_id, record, expected_tag)

    async def _run(self, chat_id: int, record: ChatRecord, title: str, count: int, phase: str) -> None:
        old = self.sessions.pop(chat_id, None)
        if old is not None:
            await old.stop()
        session = ChatSession(
            port=self.port, bot=self.bot, outbox=self.outbox(chat_id), chat_id=chat_id, pin=record.pin,
            tag=record.tag, mode=record.mode, title=title, count=count, phase=phase,
            spawn=self.spawn, on_poll=self._register_poll, clock=self.clock, memory=self.shared, on_end=self._ended,
        )
        if self.shared is not None:  # carrying on after another process: same seats, same posts
            session.restore(await self.shared.seats(chat_id), await self.shared.posts(chat_id))
        self.sessions[chat_id] = session
        await session.start(hold=not record.held)  # one placeholder per attachment, whoever runs it
        if self.shared is not None and not record.held:
            await self.shared.claim_chat(chat_id, replace(record, held=True), record.tag)

    def _ended(self, session: ChatSession) -> None:
        """The game a session showed is over: the chat is free."""
        if self.sessions.get(session.chat_id) is session:
            del self.sessions[session.chat_id]
        if self.shared is not None:
            self.spawn(self.shared.drop_chat(session.chat_id, session.tag))

    async def reconcile(self) -> None:
        """The leader makes its sessions match the shared attachments (made by any process)."""
        if self.shared is None or not self.leading:
            return
        async with self._attaching:
            await self._reconcile(self.shared)

    async def _reconcile(self, shared: SharedState) -> None:
        records = await shared.chats()
        for chat_id in [c for c in self.sessions if c not in records]:
            await self.sessions.pop(chat_id).stop()
        for chat_id, record in records.items():
            session = self.sessions.get(chat_id)
            if session is not None and session.tag == record.tag and not session.stopped:
                session.mode = record.mode
                continue
            try:
                summary = await self.port.summary(record.pin)
            except ClientError:
                summary = None
            if summary is None or summary.phase == "FINISHED":
                await shared.drop_chat(chat_id, record.tag)
                continue
            await self._run(chat_id, record, summary.title, summary.players, summary.phase)

    async def _still_running(self, pin: str) -> bool:
        try:
            return (await self.port.summary(pin)).phase != "FINISHED"
        except ClientError:
            return False  # the game is gone

    def may_tell_member(self, chat_id: int) -> bool:
        """Whether a reply to a non-admin's command may go to this chat now (one per
        MEMBER_REPLY_EVERY_S: a plain member must not spend the group's budget)."""
        return self.member_replies.may_reply(chat_id)

    async def detach(self, chat_id: int, *, forget: bool = True) -> None:
        """Stop showing the chat's game (`forget`: everywhere, not only in this process)."""
        session = self.sessions.pop(chat_id, None)
        if session is not None:
            await session.stop(release=forget)
        if forget and self.shared is not None:
            record = await self.shared.chat(chat_id)
            if record is not None:
                await self.shared.drop_chat(chat_id, record.tag)

    def _register_poll(self, poll_id: str, session: ChatSession, question: int) -> None:
        self.polls[poll_id] = (session, question)
        while len(self.polls) > MAX_POLLS:
            self.polls.popitem(last=False)
        for user, option_ids, received_mono in self._early_votes.pop(poll_id, []):
            self.spawn(self.poll_answer(poll_id, user, option_ids, received_mono))

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
        """Stop this process's sessions; shared attachments stay for the next leader."""
        for chat_id in list(self.sessions):
            await self.detach(chat_id, forget=self.shared is None)  # shared: the next leader carries on
        for outbox in self.outboxes.values():
            await outbox.close()
        self.outboxes.clear()  # if this process leads again, its budgets start from the ledger
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- host rights ---------------------------------------------------------------------

    @property
    def grants(self) -> OrderedDict[tuple[int, str], float]:
        return self.host_grants.grants

    async def grant(self, user_id: int, pin: str, host_token: str) -> bool:
        """Remember that this user proved to host game `pin`; False for a wrong token."""
        return await self.host_grants.grant(user_id, pin, host_token)

    async def is_granted(self, user_id: int, pin: str) -> bool:
        return await self.host_grants.is_granted(user_id, pin)

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
        if user is None or not option_ids:
            return
        found = self.polls.get(poll_id)
        if found is None:
            self._keep_early_vote(poll_id, user, option_ids, received_mono)
            return
        session, question = found
        if session.stopped:
            return  # the game ended, or the chat shows another game now
        toast = await session.answer(user, question, option_ids[0], received_mono)
        log.debug("poll answer of %s in chat %s: %s", user.id, session.chat_id, toast)

    def _keep_early_vote(self, poll_id: str, user: User, option_ids: tuple[int, ...], received_mono: float) -> None:
        """A vote for a poll whose sendPoll answer has not reached us yet (or not ours at all)."""
        now = self.clock()
        while self._early_votes:  # forget the oldest polls' votes: never ours, or long gone
            oldest = next(iter(self._early_votes.values()))
            if len(self._early_votes) < MAX_EARLY_VOTES and now - oldest[0][2] < EARLY_VOTE_TTL_S:
                break
            self._early_votes.popitem(last=False)
        votes = self._early_votes.setdefault(poll_id, [])
        if len(votes) < MAX_EARLY_VOTES:
            votes.append((user, option_ids, received_mono))
