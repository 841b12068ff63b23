"""Tying a live game to platform accounts: its host, its exam, its signed-in players.

The ties live in the game's `links` hash in Redis while it runs (any process may serve any
socket) and reach SQL with its results (`gameserver.archiver`). Anonymous players and hosts
cost nothing here: without credentials on the request there is no lookup at all.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from gameserver.atomic import AtomicBatch
from gameserver.context import LiveContext
from gameserver.keys import GameKeys
from gameserver.platform.http import credentials_of, principal_of


async def _signed_in_user(connection: HTTPConnection) -> int | None:
    if credentials_of(connection) is None:
        return None
    principal = await principal_of(connection)
    return principal.user_id if principal is not None else None


async def _link(live: LiveContext, pin: str, field: str, value: int) -> None:
    key = GameKeys(pin).links
    batch = AtomicBatch(live.redis, [key])
    batch.hset(key, field, str(value))
    # While the game runs it lives game_ttl_s; finishing extends every key to results_ttl_s.
    batch.expire(key, max(live.settings.game_ttl_s, live.settings.results_ttl_s))
    await batch.execute()


async def link_host(live: LiveContext, pin: str, connection: HTTPConnection, exam_id: int | None = None) -> None:
    """Record who created the game (when signed in) and from which exam."""
    user_id = await _signed_in_user(connection)
    if user_id is not None:
        await _link(live, pin, "host", user_id)
    if exam_id is not None:
        await _link(live, pin, "exam", exam_id)


async def link_player(live: LiveContext, pin: str, player_id: str, connection: HTTPConnection) -> None:
    """Record the account of a player who joined signed in (Bearer token or session cookie)."""
    user_id = await _signed_in_user(connection)
    if user_id is not None:
        await _link(live, pin, f"p:{player_id}", user_id)
