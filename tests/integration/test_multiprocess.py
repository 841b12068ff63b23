"""Any number of server processes share one Redis; no game is pinned to a process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Client, ServerProcess, create_game, host, player, quiz, start_server


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ServerProcess]:
    """A second process on the session's Redis, for this module's tests (a start costs seconds
    of CPU): each test plays a game of its own, with a random PIN, so they share it safely."""
    process = start_server(tmp_path_factory.mktemp("other"), redis_url)
    yield process
    process.stop()


@pytest.fixture
def server_pair(server: ServerProcess, other_server: ServerProcess) -> tuple[ServerProcess, ServerProcess]:
    """Two server processes sharing one Redis: the session's and this module's."""
    return server, other_server


@pytest.fixture
def doomed_server(tmp_path: Path, redis_url: str) -> Iterator[ServerProcess]:
    """A process of this test's own, on the session's Redis, for a test that kills it."""
    process = start_server(tmp_path / "doomed", redis_url)
    yield process
    process.stop()


async def test_resume_on_another_process_keeps_identity_score_and_answer(
    server_pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = server_pair
    game = await create_game(a.base_url, quiz(n=2, time_limit=30))
    pin = game["pin"]
    the_host = await host(a.ws_url, game)
    ada, joined = await player(a.ws_url, pin, "Ada")
    bob, _ = await player(b.ws_url, pin, "Bob")
    await the_host.send({"type": "start"})
    await ada.recv("question")
    await ada.send({"type": "answer", "question": 0, "option": 0})
    await ada.recv("answer_ack")
    await bob.send({"type": "answer", "question": 0, "option": 1})
    await bob.recv("answer_ack", skip=("question", "lobby"))
    score = (await ada.recv("reveal"))["you"]["score"]
    assert score > 0
    await the_host.send({"type": "next"})
    await ada.recv("question", skip=("leaderboard", "lobby"))
    await ada.send({"type": "answer", "question": 1, "option": 1})
    await ada.recv("answer_ack")
    await ada.close()  # dropped mid-question, already answered

    back = await Client.connect(f"{b.ws_url}/ws/play/{pin}")
    await back.send({"type": "resume", "token": joined["token"]})
    rejoined = await back.recv("joined")
    assert rejoined["player_id"] == joined["player_id"] and rejoined["name"] == "Ada"
    assert rejoined["score"] == score and rejoined["phase"] == "ACTIVE"
    question = await back.recv("question")
    assert question["question"] == 1 and question["answered"] is True
    await back.send({"type": "answer", "question": 1, "option": 2})
    assert (await back.recv("error"))["code"] == "already_answered"
    for client in (back, bob, the_host):
        await client.close()


async def test_kicked_player_is_closed_4403_and_cannot_resume(server_pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = server_pair
    game = await create_game(a.base_url)
    pin = game["pin"]
    the_host = await host(a.ws_url, game)
    eve, joined = await player(b.ws_url, pin, "Eve")  # on the other process
    await the_host.send({"type": "kick", "player_id": joined["player_id"]})
    assert (await eve.recv("kicked"))["type"] == "kicked"
    assert await eve.closed_with() == 4403
    lobby = await the_host.recv("lobby")
    while joined["player_id"] not in lobby["left"]:
        lobby = await the_host.recv("lobby")
    assert lobby["count"] == 0
    again = await Client.connect(f"{a.ws_url}/ws/play/{pin}")
    await again.send({"type": "resume", "token": joined["token"]})
    assert (await again.recv("error"))["code"] == "bad_token"
    await the_host.send({"type": "kick", "player_id": joined["player_id"]})
    assert (await the_host.recv("error"))["code"] == "bad_message"
    await again.close()
    await the_host.close()


async def test_lock_refuses_new_joins(server_pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = server_pair
    game = await create_game(a.base_url)
    async with httpx.AsyncClient() as http:  # joined before this host's process saw any event
        joined = await http.post(f"{b.base_url}/api/games/{game['pin']}/players", json={"name": "Early"})
        assert joined.status_code == 201
    the_host = await host(a.ws_url, game)
    await the_host.send({"type": "lock"})
    lobby = await the_host.recv("lobby")
    while not lobby["locked"]:
        lobby = await the_host.recv("lobby")
    assert lobby["count"] == 1
    late = await Client.connect(f"{b.ws_url}/ws/play/{game['pin']}")
    await late.send({"type": "join", "name": "Late"})
    assert (await late.recv("error"))["code"] == "locked"
    await the_host.send({"type": "unlock"})
    lobby = await the_host.recv("lobby")
    while lobby["locked"]:  # unlocked in Redis, where a join is decided, before the host hears of it
        lobby = await the_host.recv("lobby")
    await late.send({"type": "join", "name": "Late"})
    assert (await late.recv("joined"))["name"] == "Late"
    await late.close()
    await the_host.close()


async def test_game_plays_across_two_processes_and_survives_kill_9(
    doomed_server: ServerProcess, other_server: ServerProcess,
) -> None:
    a, b = doomed_server, other_server
    game = await create_game(b.base_url, quiz(n=2, time_limit=5))
    pin = game["pin"]
    the_host = await host(a.ws_url, game)  # the host's process starts (and times) questions
    on_a = [await player(a.ws_url, pin, f"A{i}") for i in range(3)]
    on_b = [await player(b.ws_url, pin, f"B{i}") for i in range(3)]
    everyone = [c for c, _ in on_a + on_b]

    await the_host.send({"type": "start"})
    questions = await asyncio.gather(*(c.recv("question") for c in everyone))
    assert len({q["deadline"] for q in questions}) == 1
    for i, client in enumerate(everyone):
        await client.send({"type": "answer", "question": 0, "option": i % 2})
    await asyncio.gather(*(c.recv("answer_ack") for c in everyone))
    reveals = await asyncio.gather(*(c.recv("reveal") for c in everyone))
    assert all(r["distribution"] == [3, 3, 0, 0] for r in reveals)
    await the_host.send({"type": "next"})
    question = await on_b[0][0].recv("question", skip=("leaderboard", "lobby"))
    b_clients = [c for c, _ in on_b]
    for client in b_clients[1:]:
        await client.recv("question", skip=("leaderboard", "lobby"))
    await b_clients[0].send({"type": "answer", "question": 1, "option": 1})  # correct for question 1
    await b_clients[0].recv("answer_ack")

    a.kill()  # the process that opened question 1 dies; its local timer dies with it
    # Process b's sweep closes and scores question 1 by deadline + sweep interval, once.
    reveals = [await c.recv("reveal", timeout=15) for c in b_clients]
    arrived_ms = time.time_ns() // 1_000_000
    assert arrived_ms - question["deadline"] < 100 + 300 + 1500  # grace + sweep + slack
    assert all(r["question"] == 1 for r in reveals)
    assert reveals[0]["you"]["answered"] and reveals[0]["you"]["correct"]
    first_points = reveals[0]["you"]["points"]
    await asyncio.sleep(1.5)  # more sweeps: still exactly one reveal, points not doubled
    for client in b_clients:
        await client.send({"type": "ping", "t": 0})
        await client.recv("pong", skip=("leaderboard", "lobby"))
        assert sum(1 for m in client.received if m["type"] == "reveal" and m["question"] == 1) == 1
    expected_score = reveals[0]["you"]["score"]
    prior = next(m for m in b_clients[0].received if m["type"] == "reveal" and m["question"] == 0)["you"]["score"]
    assert expected_score == prior + first_points

    # A new host socket on the surviving process finishes the game.
    survivor_host = await host(b.ws_url, game)
    await survivor_host.send({"type": "next"})
    finished = await b_clients[0].recv("finished", skip=("leaderboard", "lobby"))
    assert finished["you"]["score"] == expected_score
    for client in [*b_clients, survivor_host]:
        await client.close()
