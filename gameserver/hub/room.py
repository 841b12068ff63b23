"""A room: what this process holds of one game, and how sockets enter and leave it.

Theory of operation. The hub keeps one `Room` per game this process holds sockets (or
listeners, e.g. a Telegram group) of, and is subscribed to that game's channel exactly while
the room exists: the first socket creates it and subscribes (`Membership._room`), the last to
leave drops it, stops its timers and unsubscribes (`_drop_if_empty`).

A socket enters in two steps. `attach` subscribes it before its session reads the game, so
nothing published after that read is missed; but its welcome (`joined`/`hosting` and the
current phase) must still come first. Until `welcomed`, the room keeps what it delivers for the
socket in `Room.waiting` (`Room.hold`), in order; `welcomed` then replays it, less the steps of
the game the welcome already showed (`gamesync.game_step`). A socket that piles up more than
`MAX_WAITING_MESSAGES` meanwhile is too slow to follow the game and is closed 1013.

`Membership` is the hub's part that does this; `Hub` (`core.py`) combines it with the delivery
and pacing parts, and sets the state each declares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gameserver.clock import Timer
from gameserver.connection import Connection
from gameserver.gamesync import MAX_WAITING_MESSAGES, game_step
from gameserver.gcwatch import Freezer
from gameserver.hub.pacing import LobbyPacing
from gameserver.keys import GameKeys
from gameserver.subscription import Subscription
from gameserver.wire_messages import LobbyPlayer
from transports.port import GameListener

__all__ = ["Membership", "Room"]


class Room:
    """What this process holds of one game: its sockets, listeners and coalescing state."""

    def __init__(self, pin: str) -> None:
        self.pin = pin
        self.players: dict[str, set[Connection]] = {}
        self.hosts: set[Connection] = set()
        self.listeners: set[GameListener] = set()
        # Sockets attached (subscribed) but not yet sent their welcome (`joined`/`hosting` and
        # the current phase): what the room delivers meanwhile is kept for them, in order, and
        # sent after the welcome (`Hub.welcomed`). Nothing reaches a socket before its welcome.
        self.waiting: dict[Connection, list[dict[str, Any]]] = {}
        self.count: int | None = None
        self.locked = False
        self.joined: list[LobbyPlayer] = []
        self.left: list[str] = []
        self.lobby_timer: Timer | None = None
        self.player_lobby_timer: Timer | None = None
        # Players see lobby counts only until the first question: a count broadcast to 10,000
        # sockets is ~100-250 ms of the loop, which must not land inside a question.
        self.started = False
        # A question of this game is open as far as this process's deliveries tell (set by its
        # `question`, cleared by its `reveal` or `finished`): its players' answers may come in.
        self.taking_answers = False
        # The running question whose answer count the hosts here follow, and the last count sent.
        self.counting: int | None = None
        self.last_count: tuple[int, int] | None = None
        # The last step of the game (`game_step`) delivered here: a step is delivered once, so
        # catching up after a lost pub/sub connection may offer what already arrived.
        self.step: tuple[int, int] = (-1, 0)

    def empty(self) -> bool:
        return not self.players and not self.hosts and not self.listeners and not self.waiting

    def connections(self) -> list[Connection]:
        result = list(self.hosts)
        for conns in self.players.values():
            result.extend(conns)
        return result

    def hold(self, message: Mapping[str, Any], personal: Any = None, *, hosts_only: bool = False) -> None:
        """Keep `message` for the sockets of this room not yet welcomed; `personal(conn)` gives
        the fields to add for one of them (its `you`, the host's extra)."""
        for conn, held in list(self.waiting.items()):
            if hosts_only and conn.role != "host":
                continue
            extra = personal(conn) if personal is not None else None
            held.append(dict(message) | extra if extra else dict(message))
            if len(held) > MAX_WAITING_MESSAGES:
                del self.waiting[conn]
                conn.close(1013, "too slow")


class Membership(LobbyPacing):
    """The hub's part that lets sockets and listeners into a game's room and out again."""

    subscription: Subscription
    freezer: Freezer | None
    connection_count: int

    async def _room(self, pin: str) -> Room:
        room = self.rooms.get(pin)
        if room is None:
            room = self.rooms[pin] = Room(pin)
            await self.subscription.subscribe(GameKeys(pin).channel)
        return room

    async def attach(self, conn: Connection) -> None:
        """Subscribe `conn` to its game. Until `welcomed`, what the game broadcasts is held
        back for it, so a session reads the game's state after subscribing (missing nothing)
        and still sends its welcome first."""
        room = await self._room(conn.pin)
        if conn.role != "host":
            assert conn.player_id is not None
        room.waiting[conn] = []
        self._count_connections(+1)

    def welcomed(self, conn: Connection, sent: Sequence[Mapping[str, Any]]) -> None:
        """`conn` has been sent its welcome, ending with `sent` (the current phase's messages):
        from now on it gets broadcasts directly, after what was held back for it meanwhile,
        less the steps of the game its welcome already showed (or went past)."""
        room = self.rooms.get(conn.pin)
        held = room.waiting.pop(conn, None) if room is not None else None
        if room is None or held is None:
            return
        if conn.role == "host":
            room.hosts.add(conn)
        else:
            assert conn.player_id is not None
            room.players.setdefault(conn.player_id, set()).add(conn)
        if not held:  # the usual case: nothing was broadcast during the welcome
            return
        steps = [step for step in map(game_step, sent) if step is not None]
        shown = max(steps, default=(-1, 0))
        for message in held:
            step = game_step(message)
            if step is None or step > shown:
                conn.send(message)

    def _count_connections(self, delta: int) -> None:
        self.connection_count += delta
        if self.freezer is not None:
            self.freezer.observe(self.connection_count)

    async def attach_listener(self, pin: str, listener: GameListener) -> None:
        (await self._room(pin)).listeners.add(listener)

    async def detach(self, conn: Connection) -> None:
        room = self.rooms.get(conn.pin)
        if room is None:
            return
        held = room.waiting.pop(conn, None) is not None
        if conn.role == "host":
            held = held or conn in room.hosts
            room.hosts.discard(conn)
        elif conn.player_id is not None:
            conns = room.players.get(conn.player_id)
            if conns is not None:
                held = held or conn in conns
                conns.discard(conn)
                if not conns:
                    del room.players[conn.player_id]
        if held:
            self._count_connections(-1)
        await self._drop_if_empty(room)

    async def detach_listener(self, pin: str, listener: GameListener) -> None:
        room = self.rooms.get(pin)
        if room is not None:
            room.listeners.discard(listener)
            await self._drop_if_empty(room)

    async def _drop_if_empty(self, room: Room) -> None:
        if room.empty() and self.rooms.get(room.pin) is room:
            del self.rooms[room.pin]
            self._stop_timers(room)
            self.store.forget(room.pin)  # no socket of it here: its quiz need not stay
            await self.subscription.unsubscribe(GameKeys(room.pin).channel)

    def player_connections(self, pin: str, player_id: str) -> set[Connection]:
        room = self.rooms.get(pin)
        return set(room.players.get(player_id, ())) if room else set()
