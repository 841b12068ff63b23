"""Keeping a process's rooms in step with their games where pub/sub alone cannot.

Pub/sub delivers each event once, to whoever is subscribed at that moment. Three gaps follow,
and the hub (`gameserver/hub/`) closes them with what is here:

- a socket subscribes before its session reads the game (to miss nothing after the read) but
  must get its welcome first: the hub holds what arrives meanwhile and replays it, less the
  steps of the game the welcome already showed (`game_step` orders them);
- while the subscription is down (a Redis restart, a cut connection) events are lost: once it
  is back, `GameSync.catch_up` reads each game and delivers the step its room missed (the
  running question, the stored reveal and leaderboard, the final results); the hub delivers
  each step once, so a catch-up racing the real event doubles nothing;
- a game Redis lost (FLUSHALL, a Redis that came back empty) or that expired sends nothing
  at all: `GameSync.watch` checks every few seconds, in one round trip for all the process's
  games, and the hub tells their sockets `unknown_game` and closes them 4404.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gameserver import metrics
from gameserver.clock import Clock
from gameserver.envelopes import Message
from gameserver.game_messages import question_shown
from gameserver.wire_messages import Finished, Leaderboard, QuestionShown, Reveal
from statemachine import Phase

if TYPE_CHECKING:
    from gameserver.hub import Hub, Room

log = logging.getLogger(__name__)

#: Messages a socket may hold back before its welcome; a welcome comes within a few round
#: trips, so a socket that piles up more is too slow to follow the game (closed 1013).
MAX_WAITING_MESSAGES = 64

_STEP_RANK = {QuestionShown.TYPE: 1, Reveal.TYPE: 2, Leaderboard.TYPE: 3}
_FINAL_STEP = (1 << 30, 0)


def game_step(message: Mapping[str, Any]) -> tuple[int, int] | None:
    """Where in the game a message belongs: (question, 1) for its `question`, 2 for its
    `reveal`, 3 for its `leaderboard`; the end for `finished`; None for a message that is not
    a step of the game (lobby, counts). Steps only ever grow as a game is played."""
    kind = message.get("type")
    if kind == Finished.TYPE:
        return _FINAL_STEP
    rank = _STEP_RANK.get(kind) if isinstance(kind, str) else None
    return None if rank is None else (int(message["question"]), rank)


class GameSync:
    def __init__(self, hub: Hub, watch_interval_s: float, clock: Clock | None = None) -> None:
        self.hub = hub
        self.watch_interval_s = watch_interval_s
        self.clock = clock if clock is not None else hub.clock  # the hub's: the process clock

    async def watch(self) -> None:
        """Every `watch_interval_s`, whether the games this process holds sockets of still
        exist (one round trip for all of them); a vanished one is announced to its sockets,
        which are closed 4404, instead of leaving them waiting for events that never come."""
        while True:
            await self.clock.sleep(self.watch_interval_s)
            pins = list(self.hub.rooms)
            try:
                phases = await self.hub.store.game_phases(pins) if pins else {}
            except Exception as error:  # Redis away: nothing is known to be gone
                log.warning("could not check this process's games: %s", error)
                continue
            for known in Phase:  # the games gauge follows what this look told
                metrics.GAMES.labels(known.value).set(sum(1 for p in phases.values() if p == known.value))
            for pin, phase in phases.items():
                if phase is None:
                    self.hub.game_gone(pin)

    async def catch_up(self) -> bool:
        """Bring every room up to its game's current step, from the stored state. False when
        some game could not be read (the caller tries again after its next good read)."""
        complete = True
        for room in list(self.hub.rooms.values()):
            try:
                await self._catch_up_room(room)
            except Exception as error:
                log.warning("could not catch up game %s: %s", room.pin, error)
                complete = False
        return complete

    async def _catch_up_room(self, room: Room) -> None:
        hub = self.hub
        record = await hub.store.load(room.pin)
        if record is None:
            hub.game_gone(room.pin)
            return
        state = record.state
        if state.phase is Phase.ACTIVE:
            if room.step < (state.question, 1):
                quiz = await hub.store.quiz(room.pin, record.game_id)
                shown = question_shown(quiz, state, hub.now_ms())
                await hub.deliver_new(room, [Message(shown.to_wire())])
            return
        if state.phase is Phase.WAITING:
            return
        reveal = await hub.store.last_reveal(room.pin)
        if reveal is not None and reveal.question == state.question:
            await hub.deliver_new(room, reveal.items)
        if state.phase is Phase.FINISHED:
            results = await hub.store.final_results(room.pin)
            if results is not None:
                await hub.deliver_new(room, results.items)
