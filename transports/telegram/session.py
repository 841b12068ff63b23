"""One game shown in one chat: a screen (GameListener) plus the chat's players.

Theory of operation. The session listens to its game through the port and turns each message
into ops for the chat's outbox: the lobby post (with the Join button) and its coalesced edits;
each question as a quiz poll (polling mode) or a message with answer buttons (inline mode);
after each question one results message; at the end the podium. Ops render when their turn
comes, from the session's newest state, so a late op never shows stale data and an op that
became pointless (a question already closed) sends nothing.

Players: a Telegram user joins with the Join button, or implicitly by answering; the name is
their Telegram name with a suffix when taken. An answer counts as received at
`opened_ms + (receive time of the update - when the question's send returned)`: the same
formula as everyone, measured from when the question reached Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from telegram import Bot, Message, User

from statemachine.errors import (
    AlreadyAnswered,
    ClientError,
    InvalidOption,
    NameTaken,
    NotActive,
    TooLate,
    WrongQuestion,
)
from transports.port import PlayerSeat
from transports.telegram import names, texts, views
from transports.telegram.outbox import Op, Outbox, Outgoing, Priority
from transports.telegram.quiz_port import QuizPort
from transports.telegram.views import QuestionView

log = logging.getLogger(__name__)

KEEP_QUESTIONS = 4  # views kept for late reveals and old-button presses


class ChatSession:
    def __init__(
        self, *, port: QuizPort, bot: Bot, outbox: Outbox, chat_id: int, pin: str, tag: str, mode: str,
        title: str, count: int, phase: str, spawn: Callable[[Coroutine[Any, Any, Any]], None],
        on_poll: Callable[[str, ChatSession, int], None], clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port, self.bot, self.outbox, self.chat_id = port, bot, outbox, chat_id
        self.pin, self.tag, self.mode, self.title = pin, tag, mode, title
        self.count, self.phase = count, phase
        self.spawn, self.on_poll, self.clock = spawn, on_poll, clock
        self.seats: dict[int, PlayerSeat] = {}  # Telegram user id -> seat
        self.names: dict[str, str] = {}  # player_id -> name, for this chat's players
        self.questions: dict[int, QuestionView] = {}
        self.current: QuestionView | None = None
        self.lobby_message_id: int | None = None
        self._lobby_round = 0
        self.stopped = False
        self._joining: dict[int, asyncio.Future[PlayerSeat]] = {}
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._unsubscribe = await self.port.listen(self.pin, self)
        self._lobby(Priority.NORMAL)
        for message in await self.port.current_messages(self.pin):
            self.deliver(message, {})

    async def stop(self) -> None:
        """Stop listening; this chat's players no longer hold questions open."""
        if self.stopped:
            return
        self.stopped = True
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            await unsubscribe()
        for seat in list(self.seats.values()):
            try:
                await self.port.set_connected(self.pin, seat.player_id, False)
            except Exception:
                log.exception("could not mark Telegram player %s as gone", seat.player_id)

    # -- the game's messages -------------------------------------------------------------

    def deliver(self, message: Mapping[str, Any], personal: Mapping[str, Mapping[str, Any]]) -> None:
        if self.stopped:
            return
        kind = message.get("type")
        if kind == "lobby":
            self.count = int(message.get("count", self.count))
            self._lobby(Priority.BACKGROUND)
        elif kind == "question":
            self._on_question(message)
        elif kind == "reveal":
            self._on_reveal(message, personal)
        elif kind == "leaderboard":
            view = self.questions.get(int(message["question"]))
            if view is not None:
                view.top = list(message.get("top") or [])
        elif kind == "finished":
            self._on_finished(message, personal)

    def _on_question(self, message: Mapping[str, Any]) -> None:
        view = QuestionView.from_message(message)
        if self.questions and view.index <= max(self.questions):
            return  # already shown (a catch-up message racing the live one)
        self.questions[view.index] = view
        for old in sorted(self.questions)[:-KEEP_QUESTIONS]:
            del self.questions[old]
        self.current = view
        if self.phase != "ACTIVE":
            self.phase = "ACTIVE"
            self._lobby(Priority.BACKGROUND)
        self.outbox.put(Op(Priority.URGENT, lambda: self._render_question(view), key=("question", self.tag, view.index),
                           on_done=lambda result, done: self._posted(view, result, done)))

    def _on_reveal(self, message: Mapping[str, Any], personal: Mapping[str, Mapping[str, Any]]) -> None:
        view = self.questions.get(int(message["question"]))
        if view is None or view.correct is not None:
            return
        view.closed = True
        view.correct = int(message["correct"])
        view.distribution = [int(n) for n in message.get("distribution") or []]
        view.you = {p: personal[p] for p in self.names if p in personal}
        self.phase = "BETWEEN"
        self.outbox.put(Op(Priority.URGENT, lambda: self._render_results(view), key=("results", self.tag, view.index)))
        if self.mode == "inline":
            self._indicator(view)
        else:
            key = ("stop", self.tag, view.index)
            self.outbox.put(Op(Priority.BACKGROUND, lambda: self._render_stop(view), key=key))

    def _on_finished(self, message: Mapping[str, Any], personal: Mapping[str, Mapping[str, Any]]) -> None:
        if self.phase == "FINISHED":
            return
        self.phase = "FINISHED"
        if self.current is not None:
            self.current.closed = True
        podium = list(message.get("podium") or [])
        mine = views.here({p: personal[p] for p in self.names if p in personal}, self.names)
        text = texts.finished(podium, mine)

        async def render() -> Outgoing:
            return views.send_text(self.bot, self.chat_id, text)

        self.outbox.put(Op(Priority.URGENT, render, key=("finished", self.tag)))
        self._lobby(Priority.BACKGROUND)
        self.spawn(self.stop())

    # -- rendering (when an op's turn comes) ---------------------------------------------

    def repost_lobby(self) -> None:
        """A fresh lobby message at the bottom of the chat (the old one's button keeps working)."""
        self._lobby_round += 1  # a post still in flight no longer becomes the lobby to edit
        self.lobby_message_id = None
        self._lobby(Priority.NORMAL)

    def _lobby(self, priority: Priority) -> None:
        self.outbox.put(Op(priority, self._render_lobby, key=("lobby", self.tag)))

    async def _render_lobby(self) -> Outgoing | None:
        text = texts.lobby(self.title, self.pin, self.mode, self.count, list(self.names.values()), self.phase)
        markup = None if self.phase == "FINISHED" else views.join_keyboard(self.pin, self.tag)
        if self.lobby_message_id is not None:
            return views.edit_text(self.bot, self.chat_id, self.lobby_message_id, text, markup)
        if self.stopped:
            return None
        send = views.send_text(self.bot, self.chat_id, text, markup)
        round_ = self._lobby_round

        async def post() -> Any:
            message = await send.call()
            if self._lobby_round == round_:
                self.lobby_message_id = message.message_id  # edits from now on
            return message

        return Outgoing(call=post, content=send.content)

    async def _render_question(self, view: QuestionView) -> Outgoing | None:
        if view.closed or self.stopped or view.message_id is not None:
            return None
        remaining_s = (view.deadline_ms - self.port.now_ms()) / 1000
        if remaining_s < 1:
            return None  # it would close before anyone could read it
        if self.mode == "inline":
            text = texts.question(view.index, view.total, view.text, view.options, view.time_limit_ms, 0, False)
            markup = views.answer_keyboard(self.pin, self.tag, view)
            return views.send_text(self.bot, self.chat_id, text, markup)
        correct = await self.port.correct_option(self.pin, view.index)
        # Telegram closes the poll itself: at the time limit, or what is left of it if we are late
        view.open_period_s = min(120, max(5, math.ceil(remaining_s - 0.05)))
        return views.send_quiz_poll(self.bot, self.chat_id, view, correct, view.open_period_s)

    def _posted(self, view: QuestionView, result: Any, done: float) -> None:
        if not isinstance(result, Message):
            return
        view.posted_mono = done
        view.message_id = result.message_id
        if result.poll is not None:
            view.poll_id = result.poll.id
            view.poll_closes_mono = done + (view.open_period_s or 0)
            self.on_poll(result.poll.id, self, view.index)

    async def _render_results(self, view: QuestionView) -> Outgoing | None:
        return views.send_text(self.bot, self.chat_id, views.results_text(view, self.names))

    async def _render_stop(self, view: QuestionView) -> Outgoing | None:
        if view.message_id is None or view.poll_closes_mono is None or self.clock() >= view.poll_closes_mono - 0.5:
            return None  # never posted, or Telegram closes it by itself
        return views.stop_poll(self.bot, self.chat_id, view.message_id)

    def _indicator(self, view: QuestionView) -> None:
        key = ("indicator", self.tag, view.index)
        self.outbox.put(Op(Priority.BACKGROUND, lambda: self._render_indicator(view), key=key))

    async def _render_indicator(self, view: QuestionView) -> Outgoing | None:
        if view.message_id is None:
            return None
        text = texts.question(
            view.index, view.total, view.text, view.options, view.time_limit_ms, len(view.answered), view.closed
        )
        markup = None if view.closed else views.answer_keyboard(self.pin, self.tag, view)
        return views.edit_text(self.bot, self.chat_id, view.message_id, text, markup)

    # -- players -------------------------------------------------------------------------

    async def seat_for(self, user: User) -> tuple[PlayerSeat, bool]:
        """The user's seat in the game, joining them first if needed; (seat, newly joined)."""
        seat = self.seats.get(user.id)
        if seat is not None:
            return seat, False
        pending = self._joining.get(user.id)
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[PlayerSeat] = asyncio.get_running_loop().create_future()
        self._joining[user.id] = future
        try:
            seat = await self._join(user)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark it retrieved: waiters get it, the loop must not complain
            raise
        finally:
            self._joining.pop(user.id, None)
        future.set_result(seat)
        return seat, True

    async def _join(self, user: User) -> PlayerSeat:
        base = names.clean_name(user.full_name, user.username)
        for name in names.candidates(base):
            try:
                seat = await self.port.join(self.pin, name)
            except NameTaken:
                continue
            break
        else:
            raise NameTaken("every variant of this name is taken")
        self.seats[user.id] = seat
        self.names[seat.player_id] = seat.name
        await self.port.set_connected(self.pin, seat.player_id, True)
        self._lobby(Priority.BACKGROUND)
        return seat

    async def answer(self, user: User, question: int, option: int, received_mono: float) -> str:
        """Record a Telegram answer; the toast to show (inline mode)."""
        view = self.questions.get(question)
        if view is None or view.closed or view.posted_mono is None or self.phase == "FINISHED":
            return "⏱ Time's up"
        if not 0 <= option < len(view.options):
            return "That option does not exist"
        if user.id in view.answered:
            return "Already answered"
        try:
            seat, _ = await self.seat_for(user)
            await self.port.answer(self.pin, seat.player_id, question, option, view.received_ms(received_mono))
        except AlreadyAnswered:
            return "Already answered"
        except (TooLate, NotActive, WrongQuestion):
            return "⏱ Time's up"
        except InvalidOption:
            return "That option does not exist"
        except ClientError as error:
            return texts.refusal(error.code)
        view.answered.add(user.id)
        if self.mode == "inline":
            self._indicator(view)
        return f"🔒 Locked in: {texts.LETTERS[option]}"

