"""Group results go to SQL exactly once and outlive the live game (PLATFORM.md "Results of
group games"), against real server processes, a real Redis and SQLite/PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import websockets
from sqlalchemy import func, text
from sqlmodel import col, select

from gameserver.keys import ARCHIVE, GameKeys
from persistence.db import Database
from persistence.results.models import GameResult
from tests.platform_support import Account, make_account, platform_server, wait_for
from tests.sql_support import SqlTarget
from tests.support import Client, create_game, host, player, quiz


async def signed_in_player(ws_url: str, pin: str, name: str, account: Account) -> Client:
    ws = await websockets.connect(f"{ws_url}/ws/play/{pin}", subprotocols=["quiz.v1.json"],  # type: ignore[list-item]
                                  additional_headers=account.headers, open_timeout=10)
    client = Client(ws)
    await client.send({"type": "join", "name": name})
    await client.recv("joined")
    return client


async def play_to_the_end(base_url: str, ws_url: str, game: dict[str, Any], players: list[Client]) -> list[Any]:
    """Everyone answers question 0 (the first player right, the others wrong); the host ends."""
    the_host = await host(ws_url, game)
    await the_host.send({"type": "start"})
    question = await players[0].recv("question")
    for index, client in enumerate(players):
        if index:
            await client.recv("question")
        option = 0 if index == 0 else 1
        await client.send({"type": "answer", "question": question["question"], "option": option})
        await client.recv("answer_ack")
    await the_host.recv("reveal", skip=("lobby", "answer_count", "question"))
    await the_host.send({"type": "end"})
    finished = await the_host.recv("finished", skip=("lobby", "answer_count", "leaderboard", "question", "reveal"))
    await the_host.close()
    return list(finished["results"])


async def test_results_are_stored_linked_and_outlive_the_live_game(
    sql_target: SqlTarget, tmp_path: Path, private_redis_url: str
) -> None:
    redis_url = private_redis_url
    with platform_server(sql_target, tmp_path / "server", redis_url) as server:
        teacher = await make_account(sql_target, "teacher")
        ada_account = await make_account(sql_target, "ada")
        bob_account = await make_account(sql_target, "bob")
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            created = await http.post("/api/games", json=quiz(n=2), headers=teacher.headers)
            assert created.status_code == 201
            game = created.json()
            pin = game["pin"]
            # Bob joins over HTTP signed in (and then plays on a socket with his player token).
            joined = await http.post(f"/api/games/{pin}/players", json={"name": "Bob"}, headers=bob_account.headers)
            assert joined.status_code == 201
        ada = await signed_in_player(server.ws_url, pin, "Ada", ada_account)
        bob = await Client.connect(f"{server.ws_url}/ws/play/{pin}")
        await bob.send({"type": "resume", "token": joined.json()["token"]})
        await bob.recv("joined")
        cyd, _ = await player(server.ws_url, pin, "Cyd")  # anonymous
        live_results = await play_to_the_end(server.base_url, server.ws_url, game, [ada, bob, cyd])
        for client in (ada, bob, cyd):
            await client.close()
        assert [r["name"] for r in live_results] == ["Ada", "Bob", "Cyd"]

        mine = await wait_for(server.base_url + "/api/me/results", ada_account.headers,
                              lambda r: r.status_code == 200 and r.json()["items"])
        (ada_line,) = mine.json()["items"]
        assert (ada_line["pin"], ada_line["title"], ada_line["rank"], ada_line["answers"]) == (pin, "Test quiz", 1, 1)
        assert ada_line["score"] == live_results[0]["score"] > 0
        assert mine.json()["next_cursor"] is None
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            bob_lines = (await http.get("/api/me/results", headers=bob_account.headers)).json()["items"]
            assert [(line["rank"], line["score"]) for line in bob_lines] == [(2, 0)]
            hosted = (await http.get("/api/me/games", headers=teacher.headers)).json()["items"]
            assert [(g["pin"], g["players"]) for g in hosted] == [(pin, 3)]
            assert hosted[0]["results"] == live_results  # names, scores, counts: never contact data
            assert (await http.get("/api/me/games", headers=ada_account.headers)).json()["items"] == []
            assert (await http.get("/api/me/results")).status_code == 401

        # The live game expires from Redis (here: its keys are deleted); the host token still reads
        # the results, now from SQL, and nobody else's token does.
        engine = aioredis.from_url(redis_url)
        try:
            await engine.delete(*GameKeys(pin).all_keys(2))
        finally:
            await engine.aclose()
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.get(f"/api/games/{pin}")).status_code == 404
            as_host = {"Authorization": f"Bearer {game['host_token']}"}
            kept = await http.get(f"/api/games/{pin}/results", headers=as_host)
            assert kept.status_code == 200 and kept.json() == {"results": live_results}
            wrong = await http.get(f"/api/games/{pin}/results", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "unknown_game"
            assert (await http.get(f"/api/games/{pin}/results")).status_code == 401


async def _count_games(target: SqlTarget, pin: str) -> int:
    db = Database(target.url, schema=target.schema)
    try:
        async with db.session() as session:
            counted = select(func.count()).select_from(GameResult).where(col(GameResult.pin) == pin)
            return (await session.exec(counted)).one()
    finally:
        await db.dispose()


@pytest.mark.slow
async def test_a_writer_killed_mid_write_leaves_the_results_to_another_process(
    sql_target: SqlTarget, tmp_path: Path, private_redis_url: str
) -> None:
    """Process A finishes the game and starts writing its results while the test holds the
    table locked; A is killed in the middle; B, sharing Redis and SQL, writes them once."""
    redis_url = private_redis_url
    env = {"LIVEQUIZ_ARCHIVE_LEASE_MS": "1500", "LIVEQUIZ_ARCHIVE_INTERVAL_MS": "300"}
    with platform_server(sql_target, tmp_path / "a", redis_url, env) as first:
        db = Database(sql_target.url, schema=sql_target.schema)
        try:
            game = await create_game(first.base_url, quiz(n=1))
            pin = game["pin"]
            ada, _ = await player(first.ws_url, pin, "Ada")
            async with db.engine.connect() as blocker:
                # Hold the write lock: A's insert waits for it inside its transaction.
                if db.is_sqlite:
                    await blocker.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    await blocker.exec_driver_sql("BEGIN")
                    await blocker.exec_driver_sql("LOCK TABLE game_results IN EXCLUSIVE MODE")
                await play_to_the_end(first.base_url, first.ws_url, game, [ada])
                await _wait_claimed(redis_url, pin)
                if db.is_sqlite:
                    await asyncio.sleep(1.0)  # A is inside record_game, waiting for the lock
                else:
                    await _wait_blocked_insert(db)
                os.kill(first.process.pid, signal.SIGKILL)
                first.process.wait(10)
                await blocker.rollback()
            assert await _count_games(sql_target, pin) == 0  # A's transaction died with it
            with platform_server(sql_target, tmp_path / "b", redis_url, env):
                for _ in range(300):  # B starts, A's lease lapses, B's sweep stores it (slower on a busy box)
                    if await _count_games(sql_target, pin) == 1:
                        break
                    await asyncio.sleep(0.1)
                assert await _count_games(sql_target, pin) == 1
                await asyncio.sleep(1.0)  # B's later sweeps find it queued no more and write nothing twice
                assert await _count_games(sql_target, pin) == 1
                client = aioredis.from_url(redis_url)
                try:
                    assert await client.zscore(ARCHIVE, pin) is None
                finally:
                    await client.aclose()
        finally:
            await db.dispose()


async def _wait_claimed(redis_url: str, pin: str) -> None:
    """Until A has claimed the game for archiving (its lease pushed the due time ahead)."""
    client = aioredis.from_url(redis_url)
    try:
        for _ in range(100):
            score = await client.zscore(ARCHIVE, pin)
            if score is not None:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the game was never queued for archiving")
    finally:
        await client.aclose()


async def _wait_blocked_insert(db: Database) -> None:
    """Until PostgreSQL shows A's insert into game_results waiting for our lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%game_results%'"
    )
    for _ in range(100):
        async with db.engine.connect() as connection:
            if (await connection.execute(query)).scalar_one() > 0:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the writer never reached its insert")

