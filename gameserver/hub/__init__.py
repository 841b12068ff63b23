"""Fan-out: deliver each game event to the sockets this process holds for that game.

Every change publishes one event on the game's Redis channel (from inside its Lua script);
every process holding sockets of that game is subscribed (`subscription.py`: SUBSCRIBE on one
Redis, SSUBSCRIBE on the owning node of a Redis Cluster). A message is encoded once per codec
and the same frame is queued on every socket; personal fields (`you`) are spliced onto the
shared bytes per player, never re-encoding the whole message. Lobby updates and the host's
answer counter are coalesced to at most one per `lobby_interval_ms`. A socket's broadcasts
are held back until its welcome; a lost subscription is caught up and a vanished game
announced (`gamesync.py`).

In five parts a newcomer can read one at a time:

- `wire.py`: `Broadcast`, one message encoded and framed at most once per codec, and the
  per-player frames with `you` spliced in (`player_wires`).
- `room.py`: `Room`, what this process holds of one game (its sockets, listeners, messages
  held back until a socket's welcome), and `Membership`, sockets entering and leaving it.
- `delivery.py`: `Delivery`, an event typed once and its messages written to every socket
  of the room, in slices that let answers in meanwhile (the benchmarked hot path).
- `pacing.py`: `LobbyPacing`, lobby updates and the hosts' answer counts coalesced per
  interval.
- `core.py`: `Hub`, which owns the rooms and the subscription, combines the three parts
  and catches up after a lost subscription.

The public names are re-exported here, so `from gameserver.hub import Hub` keeps working.
"""

from __future__ import annotations

from gameserver.hub.core import Hub
from gameserver.hub.delivery import SLICE
from gameserver.hub.pacing import PLAYER_LOBBY_SPACING_S
from gameserver.hub.room import Room
from gameserver.hub.wire import Broadcast

__all__ = ["PLAYER_LOBBY_SPACING_S", "SLICE", "Broadcast", "Hub", "Room"]
