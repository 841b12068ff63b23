"""Two processes attach two games to one Telegram group at the same instant: exactly one wins.

`POST /api/games/{pin}/telegram` for game A goes to process a and for game B to process b,
together. To make "the same instant" certain rather than likely, the test pauses Redis's
writes (`CLIENT PAUSE ... WRITE`, on a Redis of its own) while both requests are in flight:
both processes read that the group is free before either can record its game, which is the
race a read-then-write attach loses (both answered 201, the later write displacing the first
game). With the compare-and-set claim, one is 201 and the other `409 chat_busy`, and the
group shows the winner's game only, which the loser can never displace afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from gameserver.embedded_redis import EmbeddedRedis
from tests.fakes import FakeTelegram
from tests.support import QUIET, ServerProcess, create_game, host, quiz
from tests.telegram.processes import start_servers
from tests.telegram.support import GROUP, HOST_USER, wait_until
from transports.telegram.callbacks import JoinPress, parse_press
from transports.telegram.shared import key_prefix

PAUSE_MS = 1500  # both requests reach their Redis reads within this, on a busy box too


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:  # its own thread: it answers while the test awaits
        yield fake


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of this test's own: pausing its writes must not stall anyone else's tests."""
    server = EmbeddedRedis(tmp_path / "redis", port=0, appendonly=False)
    try:
        yield server.start()
    finally:
        server.stop()


async def grant(server: ServerProcess, tg: FakeTelegram, game: dict[str, Any]) -> None:
    """The host opens their host screen's deep link in a private chat with the bot."""
    headers = {"Authorization": f"Bearer {game['host_token']}"}
    async with httpx.AsyncClient() as http:
        info = (await http.get(f"{server.base_url}/api/games/{game['pin']}/telegram", headers=headers)).json()
    before = sum("You host game" in (m.text or "") for m in tg.messages(HOST_USER, bot_only=True))
    tg.send_text(HOST_USER, tg.user(HOST_USER, "Host"), f"/start {info['host_link'].split('?start=')[1]}")
    await wait_until(
        lambda: sum("You host game" in (m.text or "") for m in tg.messages(HOST_USER, bot_only=True)) > before,
        what="the host grant",
    )


async def attach(http: httpx.AsyncClient, server: ServerProcess, game: dict[str, Any]) -> httpx.Response:
    return await http.post(
        f"{server.base_url}/api/games/{game['pin']}/telegram",
        headers={"Authorization": f"Bearer {game['host_token']}"},
        json={"chat_id": GROUP, "mode": "inline", "admin_user_id": HOST_USER},
    )


def lobby_titles(tg: FakeTelegram) -> list[str]:
    """The first line of every lobby (a message with a Join button) the group got."""
    return [
        (m.text or "").split("\n", 1)[0] for m in tg.messages(GROUP, bot_only=True)
        if any(isinstance(parse_press(d), JoinPress) for d in m.callback_data)
    ]


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_simultaneous_attaches_from_two_processes_one_wins(
    tg: FakeTelegram, own_redis: str, tmp_path: Path
) -> None:
    env = {"LIVEQUIZ_TELEGRAM_TOKEN": tg.token, "LIVEQUIZ_TELEGRAM_API_URL": tg.base_url,
           "LIVEQUIZ_TELEGRAM_LEASE_MS": "3000"}
    servers = await start_servers([tmp_path / "a", tmp_path / "b"], own_redis, env)
    redis = Redis.from_url(own_redis)
    try:
        names = ["Game Alpha", "Game Beta"]
        games = [await create_game(s.base_url, quiz(2, time_limit=30) | {"title": name})
                 for name, s in zip(names, servers, strict=True)]
        tg.set_admin(GROUP, HOST_USER)
        for server, game in zip(servers, games, strict=True):
            await grant(server, tg, game)

        async with httpx.AsyncClient(timeout=30) as http:
            await redis.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")  # type: ignore[no-untyped-call]
            # (reads go on, writes wait)
            answers = await asyncio.gather(*(attach(http, s, g) for s, g in zip(servers, games, strict=True)))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [201, 409], [a.text for a in answers]
            lost = next(a for a in answers if a.status_code == 409)
            assert lost.json()["error"]["code"] == "chat_busy"
            won = 0 if answers[0].status_code == 201 else 1
            winner, loser = games[won], games[1 - won]

            # the group shows the winner's game, in Redis and in the chat; nothing of the loser's
            # redis-py types its async commands as `Awaitable[T] | T`
            chats = key_prefix(tg.token.split(':')[0]) + "chats"
            record = await cast("Awaitable[bytes | None]", redis.hget(chats, str(GROUP)))
            assert record is not None and f'"pin":"{winner["pin"]}"' in record.decode()
            await wait_until(lambda: lobby_titles(tg), timeout=15, what="the winner's lobby")

            # the winner's game runs there, and the loser, trying again through either process,
            # still cannot displace it
            screen = await host(servers[won].ws_url, winner)
            await screen.send({"type": "start"})
            await screen.recv("question", skip=QUIET | {"answer_count"})
            await wait_until(
                lambda: any((m.text or "").startswith("❓ Question 1/2") for m in tg.messages(GROUP, bot_only=True)),
                timeout=15, what="the winner's first question in the group",
            )
            for server in servers:
                again = await attach(http, server, loser)
                assert again.status_code == 409 and again.json()["error"]["code"] == "chat_busy"
            await screen.close()
        titles = lobby_titles(tg)
        assert titles and all(names[won] in t for t in titles), titles
        assert not any(names[1 - won] in (m.text or "") for m in tg.messages(GROUP, bot_only=True))
    finally:
        await redis.aclose()
        for server in servers:
            server.stop()
