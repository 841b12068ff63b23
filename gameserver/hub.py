"""Fan-out: deliver each game event to the sockets this process holds for that game.

Every change publishes one event on the game's Redis channel (from inside its Lua script);
every process holding sockets of that game is subscribed (`subscription.py`: SUBSCRIBE on one
Redis, SSUBSCRIBE on the owning node of a Redis Cluster). A message is encoded once per codec
(`Codec.prepare`) and the same frame is queued on every socket; personal fields (`you`) are
spliced onto the shared bytes per player (`Codec.splicer`; `Codec.extend` for a socket on the
ASGI path), never re-encoding the whole message.

Lobby updates and the host's answer counter are coalesced here, per process, to at most one
per `lobby_interval_ms`: thousands of joins must not become thousands of frames per socket.
A socket's broadcasts are held back until its welcome; a lost subscription is caught up and a
vanished game announced (`gamesync.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from gameserver import envelopes, metrics
from gameserver.clock import Clock, SystemClock, Timer
from gameserver.connection import Connection
from gameserver.envelopes import Envelope, Message, Messages, PlayerKicked, PlayersJoined
from gameserver.gamesync import MAX_WAITING_MESSAGES, GameSync, game_step
from gameserver.gcwatch import Freezer, GcHold
from gameserver.keys import GameKeys
from gameserver.redis_client import RedisClient
from gameserver.store import GameStore
from gameserver.subscription import subscription_for
from gameserver.wsprotocol import frame_bytes, frame_header, frame_of
from transports.codecs import Codec, Prepared, Splice
from transports.port import GameListener

log = logging.getLogger(__name__)


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
        self.joined: list[dict[str, str]] = []
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


#: Sockets written per slice of a broadcast before the event loop may run once. A socket write
#: costs 10-20 µs on a 2-core box, so a 10,000-socket broadcast holds the loop 100-200 ms;
#: an answer that arrives meanwhile needs four or five loop turns (read, session, batched Redis
#: call, reply, ack), each waiting for a slice. At 2,000 sockets (20-40 ms a slice) the answers
#: sent in the first ~150 ms of a 10k question waited 100-250 ms for their acks (ack p99
#: 82-108 ms); at 500 (5-10 ms) ack p99 is 54-67 ms and the fan-out no slower
#: (docs/performance.md). Answers are stamped when read, so smaller slices also time them closer.
SLICE = 500

#: Seconds between two lobby counts to the players of a room, per player in it.
PLAYER_LOBBY_SPACING_S = 0.0005


async def _in_slices(room: Room, pause: bool) -> AsyncIterator[list[tuple[str, set[Connection]]]]:
    """The room's players (a snapshot) in slices, letting the event loop run between them if
    `pause`."""
    players = list(room.players.items())
    for start in range(0, len(players), SLICE):
        if start and pause:
            await asyncio.sleep(0)
        yield players[start : start + SLICE]


#: What a delivered message says of its game's answers: open (True) or closed (False).
_OPENS_ANSWERS = {"question": True, "reveal": False, "finished": False}

def _personal(you: Mapping[str, Any], player_id: str) -> dict[str, Any] | None:
    """The fields spliced onto a broadcast for one player: its own `you`, if the event has one."""
    personal = you.get(player_id)
    return {"you": personal} if personal is not None else None


def _player_wires(parts: list[tuple[Broadcast, Mapping[str, Any]]], codec: Codec) -> Callable[[str], bytes]:
    """player id -> the frames of `parts` for that player, concatenated (one write per socket).
    What is the same for everyone is framed once; a player's `you` is spliced onto the shared
    bytes of its message (`Codec.splicer`): the inner loop of a 10,000-socket reveal."""
    personal = [i for i, (_, you) in enumerate(parts) if you]
    shared = [broadcast.wire_for(codec) for broadcast, _ in parts]
    if not personal:
        every = b"".join(shared)
        return lambda _player_id: every
    if len(personal) == 1:  # a reveal or the final results: the 10,000-socket case, kept lean
        index = personal[0]
        before, after = b"".join(shared[:index]), b"".join(shared[index + 1 :])
        plain = before + shared[index] + after
        you = parts[index][1]
        head, encode, tail = parts[index][0].splice(codec, "you")
        fixed = len(head) + len(tail)
        text = not codec.binary
        join = b"".join

        def one(player_id: str) -> bytes:
            value = you.get(player_id)
            if value is None:
                return plain
            encoded = encode(value)  # one allocation for all the frames of this socket:
            return join((before, frame_header(fixed + len(encoded), text=text), head, encoded, tail, after))

        return one
    # Several personal messages (rare): per message, its shared frame or (splice, you).
    makers = [(broadcast.splice(codec, "you"), you) if you else None for broadcast, you in parts]
    text = not codec.binary

    def many(player_id: str) -> bytes:
        frames = []
        for common, maker in zip(shared, makers, strict=True):
            value = maker[1].get(player_id) if maker is not None else None
            frames.append(common if maker is None or value is None else frame_of(maker[0](value), text=text))
        return b"".join(frames)

    return many


class Broadcast:
    """One message for many sockets: encoded and framed at most once per codec; personal
    fields are spliced onto the encoded bytes per recipient."""

    __slots__ = ("_prepared", "_wire", "message")

    def __init__(self, message: Mapping[str, Any]) -> None:
        self.message = message
        self._prepared: dict[str, Prepared] = {}
        self._wire: dict[str, bytes] = {}

    def _prepare(self, codec: Codec) -> Prepared:
        prepared = self._prepared.get(codec.subprotocol)
        if prepared is None:
            prepared = self._prepared[codec.subprotocol] = codec.prepare(self.message)
        return prepared

    def wire_for(self, codec: Codec, extra: Mapping[str, Any] | None = None) -> bytes:
        """The complete WebSocket frame of this message for a socket speaking `codec`."""
        prepared = self._prepare(codec)
        if extra:
            return frame_of(codec.extend_bytes(prepared, extra), text=not codec.binary)
        wire = self._wire.get(codec.subprotocol)
        if wire is None:
            wire = self._wire[codec.subprotocol] = frame_bytes(prepared.frame)
        return wire

    def splice(self, codec: Codec, key: str) -> Splice:
        """This message with `key: value` added per recipient (unframed parts)."""
        return codec.splicer(self._prepare(codec), key)

    def send_to(self, conn: Connection, extra: Mapping[str, Any] | None = None) -> None:
        if conn.raw_ready():
            conn.send_wire(self.wire_for(conn.codec, extra))
            return
        codec = conn.codec
        prepared = self._prepare(codec)
        conn.send_frame(codec.extend(prepared, extra) if extra else prepared.frame)


class Hub:
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
        self._sub_lock = asyncio.Lock()
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

    # -- membership ----------------------------------------------------------------------

    async def _room(self, pin: str) -> Room:
        room = self.rooms.get(pin)
        if room is None:
            room = self.rooms[pin] = Room(pin)
            async with self._sub_lock:
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

    def _hold(
        self, room: Room, message: Mapping[str, Any], personal: Any = None, *, hosts_only: bool = False
    ) -> None:
        """Keep `message` for the sockets of `room` not yet welcomed; `personal(conn)` gives
        the fields to add for one of them (its `you`, the host's extra)."""
        for conn, held in list(room.waiting.items()):
            if hosts_only and conn.role != "host":
                continue
            extra = personal(conn) if personal is not None else None
            held.append(dict(message) | extra if extra else dict(message))
            if len(held) > MAX_WAITING_MESSAGES:
                del room.waiting[conn]
                conn.close(1013, "too slow")

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
            async with self._sub_lock:
                await self.subscription.unsubscribe(GameKeys(room.pin).channel)

    def player_connections(self, pin: str, player_id: str) -> set[Connection]:
        room = self.rooms.get(pin)
        return set(room.players.get(player_id, ())) if room else set()

    # -- events --------------------------------------------------------------------------

    async def _on_event(self, channel: bytes, data: bytes) -> None:
        """One event of a game's channel (`game:{pin}:events`), from the subscription."""
        pin = channel.split(b"{", 1)[1].split(b"}", 1)[0].decode()
        room = self.rooms.get(pin)
        if room is None:
            return
        try:
            # Typed once per event; this process's own big events come typed from memory.
            await self.dispatch(room, self.store.published.take(data) or envelopes.from_json(data))
        except Exception:
            log.exception("bad event on %s", channel)

    async def dispatch(self, room: Room, event: Envelope) -> None:
        """Act on one event of the room's game."""
        if isinstance(event, Messages):
            await self.deliver_new(room, event.items)
        elif isinstance(event, PlayersJoined):  # one event per batch of joins (JOIN_MANY)
            room.count = event.count
            room.joined.extend({"player_id": player_id, "name": name} for player_id, name in event.players)
            self._schedule_lobby(room)
        elif isinstance(event, PlayerKicked):
            room.count = event.count
            room.left.append(event.player_id)
            waiting = [conn for conn in room.waiting if conn.player_id == event.player_id]
            for conn in [*room.players.get(event.player_id, ()), *waiting]:
                conn.send({"type": "kicked"})
                conn.close(4403, "kicked")
            self._schedule_lobby(room)
        else:
            room.locked = event.locked
            if event.count is not None:
                room.count = event.count
            self._schedule_lobby(room)

    async def _deliver(self, room: Room, items: Sequence[Message]) -> None:
        """The messages of one event to every socket of the room, personal `you` spliced in.
        Several messages (a reveal and its leaderboard) reach a socket in one write: one system
        call per socket, not one per message."""
        started = time.perf_counter()
        parts = [(Broadcast(item.msg), item.you or {}) for item in items]
        kind = items[0].kind if items else ""
        opens = _OPENS_ANSWERS.get(kind)
        if opens is not None:
            room.taking_answers = opens
        # The loop runs between slices so that answers are read, stamped and acked while a big
        # room's message goes out. With no question open in any room here there are none to
        # wait for: the players' final results then go out in one pass, before the loop takes
        # the 10,000 closes of those who have them (~60 µs each; they delayed the last
        # player's results from ~0.3 to ~1 s). A room of one slice never pauses: the rooms are
        # not walked for each of a thousand small games' messages.
        pause = len(room.players) > SLICE and (
            room.taking_answers or any(other.taking_answers for other in self.rooms.values())
        )
        wires: dict[str, Callable[[str], bytes]] = {}  # per codec: player id -> all its frames
        codec: Codec | None = None  # the codec of the previous socket, and its `wire`
        wire: Callable[[str], bytes] | None = None
        async for players in _in_slices(room, pause):
            for player_id, conns in players:
                for conn in conns:
                    if not conn.raw_ready():
                        for broadcast, you in parts:
                            broadcast.send_to(conn, _personal(you, player_id))
                        continue
                    if conn.codec is not codec:  # nearly always the same codec as the socket before
                        codec = conn.codec
                        wire = wires.get(codec.subprotocol)
                        if wire is None:
                            wire = wires[codec.subprotocol] = _player_wires(parts, codec)
                    conn.send_wire(wire(player_id))
        for conn in room.hosts:
            for (broadcast, _), item in zip(parts, items, strict=True):
                broadcast.send_to(conn, item.host or None)
        if room.waiting:
            for (broadcast, you), item in zip(parts, items, strict=True):
                host_extra = item.host or None
                self._hold(
                    room, broadcast.message,
                    lambda conn, you=you, host_extra=host_extra: (
                        host_extra if conn.role == "host" else _personal(you, conn.player_id or "")
                    ),
                )
        for broadcast, you in parts:
            self._after_delivery(room, broadcast.message, you)
        if kind:
            metrics.FANOUT_SECONDS.labels(kind).observe(time.perf_counter() - started)

    def _after_delivery(self, room: Room, message: Mapping[str, Any], you: Mapping[str, Any]) -> None:
        for listener in list(room.listeners):
            try:
                listener.deliver(message, you)
            except Exception:
                log.exception("listener failed on game %s", room.pin)
        kind = message.get("type")
        if kind in ("question", "finished"):
            room.started = True
            if room.player_lobby_timer is not None:
                room.player_lobby_timer.cancel()
                room.player_lobby_timer = None
        if kind == "question":
            if room.hosts:
                self._count_answers(room, int(message["question"]))
            if self.gc_hold is not None and len(room.players) >= self.gc_hold_players:
                self.gc_hold.hold(room.pin)
        elif kind in ("reveal", "finished"):
            room.counting = None
            if self.gc_hold is not None:
                self.gc_hold.release(room.pin)

    # -- each step once; catching up after a lost pub/sub connection (`gamesync.py`) -------

    async def deliver_new(self, room: Room, items: Sequence[Message]) -> None:
        """`_deliver` what the room does not have yet: a step of the game it already had (a
        catch-up racing the event it stood in for) is not delivered again."""
        steps = [game_step(item.msg) for item in items]
        if any(step is not None and step <= room.step for step in steps):
            items = [item for item, step in zip(items, steps, strict=True) if step is None or step > room.step]
            if not items:
                return
        room.step = max([room.step, *(step for step in steps if step is not None)])
        await self._deliver(room, items)

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
        message = {"type": "error", "code": "unknown_game", "message": "this game no longer exists"}
        for conn in [*room.connections(), *room.waiting]:
            conn.send(message)
            conn.close(4404, "unknown_game")

    # -- coalesced lobby and answer count ------------------------------------------------

    def _schedule_lobby(self, room: Room) -> None:
        if room.lobby_timer is None:
            flush = functools.partial(self._flush_host_lobby, room)
            room.lobby_timer = self.clock.call_later(self.lobby_interval_s, flush)
        if room.player_lobby_timer is None and not room.started:
            room.player_lobby_timer = self.clock.call_later(
                self._player_lobby_interval(room), functools.partial(self._flush_player_lobby, room)
            )

    def _player_lobby_interval(self, room: Room) -> float:
        """Players only see a count, so it may lag: a lobby broadcast to n sockets costs about
        n × 10-20 µs, and spacing them n × 0.5 ms apart keeps a join storm's count updates
        at 2,000 writes a second, ~3-4% of a core (10,000 players: every 5 s), instead of
        dominating it (at n × 0.2 ms they were a tenth of a 10k storm's CPU on a slow box)."""
        return max(self.lobby_interval_s, len(room.players) * PLAYER_LOBBY_SPACING_S)

    def _flush_host_lobby(self, room: Room) -> None:
        room.lobby_timer = None
        count = room.count or 0
        host_message = {
            "type": "lobby", "count": count, "joined": room.joined, "left": room.left, "locked": room.locked,
        }
        for conn in room.hosts:
            conn.send(host_message)
        if room.waiting:
            self._hold(room, host_message, hosts_only=True)
        for listener in list(room.listeners):
            with contextlib.suppress(Exception):
                listener.deliver({"type": "lobby", "count": count}, {})
        room.joined, room.left = [], []

    def _flush_player_lobby(self, room: Room) -> None:
        room.player_lobby_timer = None
        broadcast = Broadcast({"type": "lobby", "count": room.count or 0})
        for conns in room.players.values():
            for conn in conns:
                broadcast.send_to(conn)

    def follow_answers(self, pin: str, question: int) -> None:
        """A host (re)joined while `question` runs: send it the count (again) from now on; the
        counter may have stopped while the room had no host."""
        room = self.rooms.get(pin)
        if room is not None and room.hosts:
            self._count_answers(room, question)

    def _count_answers(self, room: Room, question: int) -> None:
        room.counting = question
        room.last_count = None
        if self._counter is None or self._counter.done():
            self._counter = asyncio.create_task(self._poll_answer_counts(), name="answer-counts")

    async def _poll_answer_counts(self) -> None:
        """The hosts' answer counters, for every game of this process in one Redis round trip
        per interval (1,000 games with a task each made 3,000 round trips a second)."""
        while True:
            rooms = [room for room in self.rooms.values() if room.counting is not None and room.hosts]
            if not rooms:
                return
            try:
                counts = await self.store.answer_counts_many([(room.pin, room.counting) for room in rooms])
            except Exception:
                log.exception("answer count poll failed")
                counts = [room.last_count for room in rooms]
            for room, count in zip(rooms, counts, strict=True):
                question = room.counting
                if count is None or question is None or count == room.last_count:
                    continue
                room.last_count = count
                answered, players = count
                message = {"type": "answer_count", "question": question, "answered": answered, "players": players}
                for conn in room.hosts:
                    conn.send(message)
            await self.clock.sleep(self.lobby_interval_s)

    def _stop_timers(self, room: Room) -> None:
        for timer in (room.lobby_timer, room.player_lobby_timer):
            if timer is not None:
                timer.cancel()
        room.lobby_timer = room.player_lobby_timer = None
        room.counting = None
        if self.gc_hold is not None:
            self.gc_hold.release(room.pin)
