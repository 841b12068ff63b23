"""The hub: one per process, tying its parts together.

`Hub` is what the rest of the server holds (`app.py`, `context.py`): it owns the rooms and
the subscription to their games' channels (`subscription.py`), and is made of three parts,
each a mixin class in its own module that declares the state it reads and `__init__` here
sets: `Membership` (`room.py`: sockets entering and leaving a room), `Delivery`
(`delivery.py`: events to sockets) and `LobbyPacing` (`pacing.py`: coalesced lobby updates
and answer counts). The gaps pub/sub leaves are closed with `gamesync.py`: after a lost
subscription the games are read again (`_resubscribed`, `GameSync.catch_up`), and a game
Redis no longer has is announced to its sockets (`game_gone`, found by `GameSync.watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from gameserver.clock import Clock, SystemClock
from gameserver.gamesync import GameSync
from gameserver.gcwatch import Freezer, GcHold
from gameserver.hub.delivery import Delivery
from gameserver.hub.room import Membership, Room
from gameserver.redis_client import RedisClient
from gameserver.store import GameStore
from gameserver.subscription import subscription_for
from gameserver.wire_messages import ErrorMessage

__all__ = ["Hub"]


class Hub(Membership, Delivery):
    """This process's fan-out: its rooms, their subscription, and the parts that serve them."""

    def __init__(
        self,
        redis: RedisClient,
        store: GameStore,
        *,
        lobby_interval_ms: int,
        now_ms: Callable[[], int],
        freezer: Freezer | None = None,
        gc_hold: GcHold | None = None,
        gc_hold_players: int = 1000,
        watch_interval_s: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis
        self.clock = clock if clock is not None else SystemClock()  # lobby and answer-count pacing
        self.freezer = freezer
        self.gc_hold = gc_hold
        self.gc_hold_players = gc_hold_players
        self.connection_count = 0
        self.store = store
        self.lobby_interval_s = lobby_interval_ms / 1000
        self.now_ms = now_ms
        self.rooms: dict[str, Room] = {}
        self.subscription = subscription_for(redis, self._on_event, self._resubscribed)
        self._counter: asyncio.Task[None] | None = None
        self.sync = GameSync(self, watch_interval_s)
        self._watcher: asyncio.Task[None] | None = None
        self._catching_up: asyncio.Task[None] | None = None
        self._catch_up_again = False  # events were missed again while a catch-up ran

    async def start(self) -> None:
        await self.subscription.start()
        self._watcher = asyncio.create_task(self.sync.watch(), name="hub-watcher")

    async def stop(self) -> None:
        for task in (self._counter, self._watcher, self._catching_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.subscription.stop()
        for room in self.rooms.values():
            self._stop_timers(room)

    def _resubscribed(self) -> None:
        """The subscription is back (or moved): what was published meanwhile never reaches
        us, so read the games instead, once more if it happens again during the catch-up."""
        if self._catching_up is not None and not self._catching_up.done():
            self._catch_up_again = True
            return
        self._catching_up = asyncio.create_task(self._catch_up(), name="hub-catch-up")

    async def _catch_up(self) -> None:
        while True:
            self._catch_up_again = False
            if not await self.sync.catch_up():
                self._catch_up_again = True  # some game could not be read (Redis away again)
                await asyncio.sleep(0.5)
            if not self._catch_up_again:
                return

    # -- games that are gone (found by `GameSync.watch`) -----------------------------------

    def game_gone(self, pin: str) -> None:
        """Tell every socket of game `pin` here that it no longer exists, and close them."""
        room = self.rooms.get(pin)
        self.store.forget(pin)
        self.store.forget_exists(pin)
        if room is None:
            return
        message = ErrorMessage("unknown_game", "this game no longer exists").to_wire()
        for conn in [*room.connections(), *room.waiting]:
            conn.send(message)
            conn.close(4404, "unknown_game")
