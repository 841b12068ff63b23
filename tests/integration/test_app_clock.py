"""The whole server on a fake clock: `create_app(clock=FakeClock)` in this process, real
sockets, real Redis. What players see is stamped by that clock, a dropped player's reconnect
grace and a 20 s question's deadline pass by `advance()` in milliseconds, nothing closes a
moment before its time, and a player whose grace ran out is not waited for. (The server's
real timers at real time: test_rules.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import redis.asyncio as aioredis

from gameserver import wsprotocol
from gameserver.clock import FakeClock
from gameserver.keys import GameKeys
from gameserver.settings import Settings
from tests.support import QUIET, Client, create_game, host, no_message, player, quiz
from tests.telegram.support import live_server

CLOSE_GRACE_MS = 100
GRACE_MS = 3_000


async def no_reveal(client: Client, within_s: float = 0.3) -> None:
    """No reveal reaches `client` within `within_s` of real time (other messages read past).
    The fake clock stands still meanwhile: only what is already due could come."""
    await no_message(client, {"reveal"}, within_s)


async def counted_away(redis: aioredis.Redis, pin: str) -> None:
    """Wait (real time) until the server has counted a player's last socket as gone."""
    for _ in range(1000):
        if await redis.exists(GameKeys(pin).away):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the server never counted the socket as gone")


async def test_a_game_runs_on_the_apps_clock(redis_url: str, tmp_path: Path) -> None:
    clock = FakeClock(wall_ms=time.time_ns() // 1_000_000)  # other servers' sweeps see a future
    settings = Settings(
        redis_url=redis_url, data_dir=tmp_path, close_grace_ms=CLOSE_GRACE_MS, reconnect_grace_ms=GRACE_MS,
        lobby_interval_ms=100, sweep_interval_ms=300,
    )
    redis = aioredis.from_url(redis_url)
    try:  # closed on a failure too: else the collector warns in a later, innocent test
        async with live_server(lambda port: settings, clock) as server:
            game = await create_game(server.base_url, quiz(n=3, time_limit=20))
            pin = game["pin"]
            screen = await host(server.ws_url, game)
            ada, _ = await player(server.ws_url, pin, "Ada")
            bob, _ = await player(server.ws_url, pin, "Bob")
            await screen.send({"type": "start"})
            shown = await ada.recv("question")
            assert shown["server_time"] == clock.now_ms() and shown["deadline"] == clock.now_ms() + 20_000
            await ada.send({"type": "answer", "question": 0, "option": 0})
            await ada.recv("answer_ack")

            # Bob's socket drops: only Ada is connected, and she answered; he is waited for.
            await bob.close()
            await counted_away(redis, pin)
            dropped_ms = clock.now_ms()
            await clock.advance(GRACE_MS / 1000 - 0.01)
            await no_reveal(ada)
            await clock.advance(0.06)  # the grace's end (its check runs just past it)
            reveal = await ada.recv("reveal", skip=QUIET)
            assert reveal["question"] == 0 and reveal["distribution"] == [1, 0, 0, 0]
            assert clock.now_ms() - dropped_ms == GRACE_MS + 50  # not the 20 s deadline

            # The next question runs to its deadline: 20 s pass in one call.
            await screen.send({"type": "next"})
            await ada.recv("question", skip=QUIET | {"leaderboard"})
            await clock.advance(20 + CLOSE_GRACE_MS / 1000 - 0.001)
            await no_reveal(ada)
            await clock.advance(0.001)
            reveal = await ada.recv("reveal", skip=QUIET)
            assert reveal["question"] == 1 and reveal["you"]["answered"] is False

            # Bob's grace ran out long ago: Ada's answer closes the last question at once.
            await screen.send({"type": "next"})
            await ada.recv("question", skip=QUIET | {"leaderboard"})
            await ada.send({"type": "answer", "question": 2, "option": 2})
            await ada.recv("answer_ack")
            reveal = await ada.recv("reveal", skip=QUIET)
            assert reveal["question"] == 2 and reveal["you"]["correct"] is True
            for client in (screen, ada):
                await client.close()
            assert wsprotocol._wall_ns == clock.wall_ns  # the sockets' receive stamps too
    finally:
        await redis.aclose()
    assert wsprotocol._wall_ns is time.time_ns  # the stopped app handed the stamp back
