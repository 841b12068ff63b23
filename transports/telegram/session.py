"""One game shown in one chat: a screen (GameListener) plus the chat's players.

Theory of operation. The session listens to its game through the port and turns each message
into ops for the chat's outbox: the lobby post (with the Join button) and its coalesced edits;
each question as a quiz poll or a message with answer buttons; its results; the podium. Ops
render when their turn comes, from the session's newest state, so a late op never shows stale
data. The group's budget is ~20 operations a minute, so a question costs two: its post, then
its results (a text question's own message is edited into its results; a poll gets one results
message). "Who answered" edits only use what is left. A question is always posted, however
late: if it already closed, it goes out with its results in one message.

One clock. Every answer is stamped when our server received the update (`received_mono`,
converted to the server clock) and the game judges it against the server's deadline, exactly
like a web answer. A poll closes itself at the server deadline (`close_date`, rounded up to the
second Telegram counts in, so no vote cast in time is cut off; a later vote is refused by the
game as too late). With a "get ready" lead-in (`opens_at`) a text question is posted at once
(presses before the opening are answered "not yet") and a poll when answers open.

Members who never pressed Join: a member's first answer joins them under their Telegram name.
The chat holds a placeholder seat in the game's connected set while it is attached
(`presence_id`), which never answers: the game does not close a question early because every
*joined* player answered while the group's other members may still answer; it closes at the
deadline or when the host moves on.
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
    NotActive,
    TooLate,
    WrongQuestion,
)
from transports.port import PlayerSeat
from transports.telegram import texts, views
from transports.telegram.outbox import Op, Outbox, Outgoing, Priority
from transports.telegram.quiz_port import QuizPort
from transports.telegram.seating import Seating, SeatMemory
from transports.telegram.views import QuestionView

log = logging.getLogger(__name__)

KEEP_QUESTIONS = 4  # views kept for late reveals and old-button presses
MIN_POLL_OPEN_S = 5  # Telegram's shortest open_period / close_date distance
CLOSE_DATE_MARGIN_S = 1.0  # a close_date must still be 5 s ahead when the request reaches Telegram
PRESENCE_PREFIX = "telegram-chat:"


def presence_id(chat_id: int) -> str:
    """The chat's placeholder in the game's connected set: never a player, never answers."""
    return f"{PRESENCE_PREFIX}{chat_id}"


class ChatSession:
    def __init__(
        self, *, port: QuizPort, bot: Bot, outbox: Outbox, chat_id: int, pin: str, tag: str, mode: str,
        title: str, count: int, phase: str, spawn: Callable[[Coroutine[Any, Any, Any]], None],
        on_poll: Callable[[str, ChatSession, int], None], clock: Callable[[], float] = time.monotonic,
        memory: SeatMemory | None = None, on_end: Callable[[ChatSession], None] | None = None,
    ) -> None:
        self.memory, self.on_end = memory, on_end
        self._restored_posts: dict[int, dict[str, Any]] = {}
        self.port, self.bot, self.outbox, self.chat_id = port, bot, outbox, chat_id
        self.pin, self.tag, self.mode, self.title = pin, tag, mode, title
        self.count, self.phase = count, phase
        self.spawn, self.on_poll, self.clock = spawn, on_poll, clock
        self.seating = Seating(port, pin, chat_id, memory, on_join=lambda: self._lobby(Priority.BACKGROUND))
        self.seats = self.seating.seats  # Telegram user id -> seat
        self.names = self.seating.names  # player_id -> name, for this chat's players
        self.questions: dict[int, QuestionView] = {}
        self.current: QuestionView | None = None
        self.lobby_message_id: int | None = None
        self._lobby_round = 0
        self.stopped = False
        self._holding = False
        self._later: set[asyncio.TimerHandle] = set()
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def restore(self, seats: Mapping[int, Mapping[str, Any]], posts: Mapping[int, dict[str, Any]]) -> None:
        """Carry on where another process left off: the chat's seats, and the questions it
        already posted (not posted twice; their polls keep counting)."""
        self.seating.restore(seats)
        self._restored_posts = dict(posts)

    async def start(self, *, hold: bool = True) -> None:
        """Listen, and post the lobby and what is running. `hold`: take the chat's placeholder
        seat (not when carrying on after another process, whose placeholder is still there)."""
        self._unsubscribe = await self.port.listen(self.pin, self)
        if hold:
            await self.port.set_connected(self.pin, presence_id(self.chat_id), True)
        self._holding = True
        self._lobby(Priority.NORMAL)
        for message in await self.port.current_messages(self.pin):
            self.deliver(message, {})

    async def stop(self, *, release: bool = True) -> None:
        """Stop listening. `release`: this chat no longer holds questions open and its players
        are gone; without it (another process carries on) both stay for that process."""
        if self.stopped:
            return
        self.stopped = True
        for handle in self._later:
            handle.cancel()
        self._later.clear()
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            await unsubscribe()
        if not release:
            return
        gone = [seat.player_id for seat in self.seats.values()]
        if self._holding:
            gone.append(presence_id(self.chat_id))  # last: the players' absences count first
            self._holding = False
        for player_id in gone:
            try:
                await self.port.set_connected(self.pin, player_id, False)
            except Exception:
                log.exception("could not mark Telegram player %s as gone", player_id)

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
        view.as_poll = self.mode == "polling" and texts.fits_a_poll(view.index, view.total, view.text, view.options)
        self.questions[view.index] = view
        for old in sorted(self.questions)[:-KEEP_QUESTIONS]:
            del self.questions[old]
        self.current = view
        if self.phase != "ACTIVE":
            self.phase = "ACTIVE"
            self._lobby(Priority.BACKGROUND)
        earlier = self._restored_posts.get(view.index)
        if earlier is not None:  # another process posted it before it died
            view.message_id, view.poll_id = int(earlier["message_id"]), earlier.get("poll_id")
            view.as_poll, view.posted_mono = view.poll_id is not None, self.clock()
            if view.poll_id is not None:
                view.poll_closes_ms = math.ceil(view.deadline_ms / 1000) * 1000
                self.on_poll(view.poll_id, self, view.index)
            return
        op = Op(Priority.URGENT, lambda: self._render_question(view), key=("question", self.tag, view.index),
                on_done=lambda result, done: self._posted(view, result, done))
        wait_s = (view.opens_ms - self.port.now_ms()) / 1000
        if view.as_poll and wait_s > 0:
            # a poll takes votes as soon as it is there: post it when answers open
            self._after(wait_s, lambda: self.outbox.put(op))
        else:
            self.outbox.put(op)

    def _after(self, delay_s: float, callback: Callable[[], None]) -> None:
        def run() -> None:
            self._later.discard(handle)
            if not self.stopped:
                callback()

        handle = asyncio.get_running_loop().call_later(delay_s, run)
        self._later.add(handle)

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
        if view.as_poll:  # the host moved on before the poll's own close: close it (if budget is left)
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
        if self.on_end is not None:
            self.on_end(self)

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
        if view.message_id is not None:
            return None
        if view.correct is not None:
            # it closed before its turn came (a 429 pause, a host faster than the budget): the
            # group still sees it, with its results, in one message
            view.folded = True
            return views.send_text(self.bot, self.chat_id, views.revealed_text(view, self.names))
        now_ms = self.port.now_ms()
        close_s = math.ceil(view.deadline_ms / 1000)
        if not view.as_poll or close_s - now_ms / 1000 < 0.5:
            view.as_poll = False  # too late for a poll: buttons, which the results edit removes
            text = texts.question(view.index, view.total, view.text, view.options, view.time_limit_ms, 0, False)
            markup = views.answer_keyboard(self.pin, self.tag, view)
            return views.send_text(self.bot, self.chat_id, text, markup)
        correct = await self.port.correct_option(self.pin, view.index)
        if close_s - now_ms / 1000 >= MIN_POLL_OPEN_S + CLOSE_DATE_MARGIN_S:
            view.poll_closes_ms = close_s * 1000
            return views.send_quiz_poll(self.bot, self.chat_id, view, correct, close_date=close_s, open_period=None)
        # under Telegram's 5 s minimum: the poll stays open a little past the deadline, and
        # the game refuses the votes cast after it, like any late answer
        view.poll_closes_ms = now_ms + MIN_POLL_OPEN_S * 1000
        return views.send_quiz_poll(self.bot, self.chat_id, view, correct, close_date=None, open_period=MIN_POLL_OPEN_S)

    def _posted(self, view: QuestionView, result: Any, done: float) -> None:
        if not isinstance(result, Message):
            return
        view.posted_mono = done
        view.message_id = result.message_id
        if result.poll is not None:
            view.poll_id = result.poll.id
            self.on_poll(result.poll.id, self, view.index)
        if self.memory is not None:
            self.spawn(self.memory.save_post(self.chat_id, view.index, result.message_id, view.poll_id))
        elif view.answered and not view.closed:
            self._indicator(view)  # presses that came before the post returned

    async def _render_results(self, view: QuestionView) -> Outgoing | None:
        if view.folded:
            return None  # posted after it closed, results included
        if view.message_id is None:  # its post failed: show it now, with its results
            return views.send_text(self.bot, self.chat_id, views.revealed_text(view, self.names))
        if view.poll_id is None:  # a text question becomes its own results (one edit, no new message)
            return views.edit_text(self.bot, self.chat_id, view.message_id, views.revealed_text(view, self.names))
        return views.send_text(self.bot, self.chat_id, views.results_text(view, self.names))

    async def _render_stop(self, view: QuestionView) -> Outgoing | None:
        closes = view.poll_closes_ms
        if view.message_id is None or view.poll_id is None or closes is None or self.port.now_ms() >= closes - 500:
            return None  # never posted as a poll, or Telegram closes it by itself
        return views.stop_poll(self.bot, self.chat_id, view.message_id)

    def _indicator(self, view: QuestionView) -> None:
        key = ("indicator", self.tag, view.index)
        self.outbox.put(Op(Priority.BACKGROUND, lambda: self._render_indicator(view), key=key))

    async def _render_indicator(self, view: QuestionView) -> Outgoing | None:
        if view.message_id is None or view.poll_id is not None or view.closed:
            return None  # the results edit shows the final count
        text = texts.question(
            view.index, view.total, view.text, view.options, view.time_limit_ms, len(view.answered), False
        )
        markup = views.answer_keyboard(self.pin, self.tag, view)
        return views.edit_text(self.bot, self.chat_id, view.message_id, text, markup)

    # -- players -------------------------------------------------------------------------

    async def seat_for(self, user: User) -> tuple[PlayerSeat, bool]:
        """The user's seat in the game, joining them first if needed; (seat, newly joined)."""
        return await self.seating.seat_for(user)

    def server_ms(self, received_mono: float) -> int:
        """The server-clock time of an instant of `clock` (when an update reached us)."""
        return self.port.now_ms() - round((self.clock() - received_mono) * 1000)

    async def answer(self, user: User, question: int, option: int, received_mono: float) -> str:
        """Record a Telegram answer received at `received_mono`; the toast to show (inline)."""
        view = self.questions.get(question)
        if view is None or view.closed or self.phase == "FINISHED":
            return "⏱ Time's up"
        if not 0 <= option < len(view.options):
            return "That option does not exist"
        if user.id in view.answered:
            return "Already answered"
        received_ms = self.server_ms(received_mono)
        if received_ms < view.opens_ms:
            return "⏳ Not yet: answers open in a moment"
        if received_ms > view.deadline_ms:
            return "⏱ Time's up"  # as the game would say, without seating a latecomer first
        try:
            seat, _ = await self.seat_for(user)  # a member's first answer joins them
            await self.port.answer(self.pin, seat.player_id, question, option, received_ms)
        except AlreadyAnswered:
            return "Already answered"
        except (TooLate, NotActive, WrongQuestion):
            return "⏱ Time's up"
        except InvalidOption:
            return "That option does not exist"
        except ClientError as error:
            return texts.refusal(error.code)
        view.answered.add(user.id)
        if not view.as_poll:
            self._indicator(view)
        return f"🔒 Locked in: {texts.LETTERS[option]}"
