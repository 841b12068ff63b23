"""Game service: what the sessions of a game ask of it, on top of the game runner.

Theory of operation. Every change of a game's control state (start, next, lock, a question
closing, scoring, finishing) goes through `game_runner.GameRunner`: load, pure transition,
compare-and-set, effects; its docstring tells how. `GameService` adds what a host's or
player's session needs: a new game and its host token, a seat (a name checked by the pure
rules, then `JOIN_MANY`, whose guard mirrors `statemachine.check_join`), resuming with a
token, counting a player's sockets (with the reconnect grace), answers (recorded by the
store's batched `ANSWER_MANY` without awaiting, from the socket's read callback), kicks, and
the messages a (re)connecting socket is sent for the current phase. When an answer or a
closed socket may mean everyone connected has answered, it asks the runner to check
(`_check_all_answered`), which closes the question early through `apply`.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from typing import Any

from gameserver.game_messages import question_shown
from gameserver.game_runner import GameRunner
from gameserver.quizzes import Quiz
from gameserver.store import GameRecord, token_digest, tokens_match
from gameserver.wire_messages import HostLobby, Lobby
from statemachine import Phase, name_key, normalize_name
from statemachine.errors import (
    BadHostToken,
    BadMessage,
    BadToken,
    ClientError,
    InvalidOption,
    ServerError,
    UnknownGame,
    WrongQuestion,
)
from transports.port import PlayerSeat

__all__ = ["GameService"]


class GameService(GameRunner):
    """A game as its sessions use it: created, joined, resumed, answered, kicked, shown."""

    # -- games ---------------------------------------------------------------------------

    async def create_game(self, quiz: Quiz) -> tuple[str, str]:
        host_token = secrets.token_urlsafe(32)
        for _ in range(100):
            pin = str(100_000 + secrets.randbelow(900_000))
            if await self.store.create_game(pin, quiz, token_digest(host_token), self.now_ms()):
                return pin, host_token
        raise ServerError("no free PIN found")

    async def is_host(self, pin: str, host_token: str) -> bool:
        record = await self.store.load(pin)
        return record is not None and tokens_match(host_token, record.host_digest)

    async def check_host(self, pin: str, host_token: object) -> None:
        """Refuse a host socket: `UnknownGame` when the game is gone (Redis lost it, or it
        expired), so the client is not told its token is wrong; `BadHostToken` otherwise."""
        record = await self.store.load(pin)
        if record is None:
            self.store.forget_exists(pin)
            raise UnknownGame(f"no game with PIN {pin}")
        if not isinstance(host_token, str) or not tokens_match(host_token, record.host_digest):
            raise BadHostToken("wrong host token")

    # -- players -------------------------------------------------------------------------

    def new_seat(self, raw_name: object) -> PlayerSeat:
        """A validated name with a fresh player id and token (nothing stored yet)."""
        name = normalize_name(raw_name)
        return PlayerSeat(player_id=secrets.token_urlsafe(9), token=secrets.token_urlsafe(24), name=name)

    async def join(self, pin: str, raw_name: object) -> PlayerSeat:
        seat = self.new_seat(raw_name)
        await self.take_seat(pin, seat)
        return seat

    async def take_seat(self, pin: str, seat: PlayerSeat, *, connect: bool = False) -> GameRecord:
        """Join `seat` to the game (with `connect`, its socket counts as open from the same
        atomic step); returns the game as it is right after."""
        return await self.store.join(
            pin, name=seat.name, name_key=name_key(seat.name), player_id=seat.player_id, token=seat.token,
            max_players=self.settings.max_players, connect=connect,
        )

    async def resume(self, pin: str, token: object) -> tuple[str, str]:
        if not isinstance(token, str) or not token or len(token) > 200:
            raise BadToken("unknown or revoked token")
        player_id = await self.store.player_for_token(pin, token)
        name = await self.store.player_name(pin, player_id) if player_id else None
        if player_id is None or name is None:
            if await self.store.load(pin) is None:  # the game is gone, not the token wrong
                self.store.forget_exists(pin)
                raise UnknownGame(f"no game with PIN {pin}")
            raise BadToken("unknown or revoked token")
        return player_id, name

    async def set_connected(self, pin: str, player_id: str, connected: bool) -> None:
        """Count a socket of the player opening or closing. A player whose last socket closes
        during a question is still waited for during the reconnect grace (a refresh, a second
        of lost Wi-Fi): the early close is checked now (it may have waited only for them if
        they answered) and again when the grace ends."""
        grace = self.settings.reconnect_grace_ms
        away_until = self.now_ms() + grace if grace > 0 and not connected else 0
        presence = await self.store.connect(pin, player_id, 1 if connected else -1, away_until)
        if not connected and presence.sockets <= 0 and presence.phase == Phase.ACTIVE.value:
            self._check_all_answered(pin, presence.question)
            if grace > 0:
                self._spawn(self._check_all_answered_later(pin, presence.question, grace / 1000))

    async def _check_all_answered_later(self, pin: str, question: int, delay_s: float) -> None:
        await self.clock.sleep(delay_s + 0.05)  # just past the grace, which the script compares to
        self._check_all_answered(pin, question)

    async def answer(self, pin: str, player_id: str, question: int, option: int, received_ms: int) -> None:
        quiz = await self.store.quiz(pin)
        await self.answer_soon(pin, player_id, question, option, received_ms, quiz)

    def answer_soon(
        self, pin: str, player_id: str, question: int, option: int, received_ms: int, quiz: Quiz
    ) -> asyncio.Future[tuple[int, int]]:
        """Check and record an answer without awaiting (the socket's receive fast path calls it
        from a read callback). Raises a bad question or option at once; the future fails with
        the store's refusal (its `question` set) or resolves once the answer is recorded."""
        if not 0 <= question < len(quiz.questions):
            raise WrongQuestion(f"there is no question {question}", question=question)
        if not 0 <= option < len(quiz.questions[question].options):
            raise InvalidOption(f"question {question} has no option {option}", question=question)
        future = self.store.answer_soon(pin, player_id, question, option, received_ms)
        future.add_done_callback(functools.partial(self._answer_recorded, pin, question))
        return future

    def _answer_recorded(self, pin: str, question: int, future: asyncio.Future[tuple[int, int]]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, ClientError):
            error.question = question
        elif error is None:
            answered, connected = future.result()
            if answered >= connected:
                self._check_all_answered(pin, question)

    async def kick(self, pin: str, player_id: object) -> None:
        if not isinstance(player_id, str):
            raise BadMessage("kick needs a string player_id")
        name = await self.store.player_name(pin, player_id)
        if name is None or await self.store.kick(pin, player_id, name_key(name)) < 0:
            raise BadMessage(f"no player {player_id!r} in this game")

    # -- what a (re)connecting client is sent --------------------------------------------

    async def current_messages(
        self, pin: str, *, player_id: str | None = None, host: bool = False, record: GameRecord | None = None
    ) -> list[dict[str, Any]]:
        record = record or await self.record(pin)
        state = record.state
        if state.phase is Phase.WAITING:
            if host:
                return [HostLobby(record.players, (), (), state.locked).to_wire()]
            return [Lobby(record.players).to_wire()]
        if state.phase is Phase.ACTIVE:
            quiz = await self.store.quiz(pin, record.game_id)
            now = self.now_ms()  # when the socket attached: the question's `server_time`
            answered = None if player_id is None else await self.store.has_answered(pin, state.question, player_id)
            return [question_shown(quiz, state, now, answered=answered).to_wire()]
        stored = await (self.store.final_results(pin) if state.phase is Phase.FINISHED else self.store.last_reveal(pin))
        if stored is None:
            return []  # scoring or results still being written: the event follows shortly
        if state.phase is Phase.BETWEEN and stored.question != state.question:
            return []
        messages = []
        for item in stored.items:
            message = dict(item.msg)
            if host and item.host:
                message |= item.host
            elif player_id is not None and item.you and player_id in item.you:
                message["you"] = item.you[player_id]
            messages.append(message)
        return messages

    async def player_score(self, pin: str, player_id: str) -> int:
        return (await self.store.player_totals(pin, player_id)).score

