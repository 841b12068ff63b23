"""The rules of play that the open-source servers get wrong, each against a real Redis."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support import Client, ServerProcess, create_game, host, player, quiz

HOST_COMMANDS = [
    {"type": "start"}, {"type": "next"}, {"type": "end"}, {"type": "lock"}, {"type": "unlock"},
    {"type": "kick", "player_id": "x"}, {"type": "host", "token": "x"},
]


async def phase_of(base_url: str, pin: str) -> str:
    async with httpx.AsyncClient() as http:
        return str((await http.get(f"{base_url}/api/games/{pin}")).json()["phase"])


async def test_players_cannot_run_host_commands(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    pin = game["pin"]
    the_host = await host(server.ws_url, game)
    mallory, _ = await player(server.ws_url, pin, "Mallory")
    victim, victim_joined = await player(server.ws_url, pin, "Victim")
    for command in [*HOST_COMMANDS, {"type": "kick", "player_id": victim_joined["player_id"]}]:
        await mallory.send(command)
        error = await mallory.recv("error")
        assert error["code"] == "not_host", command
    assert await phase_of(server.base_url, pin) == "WAITING"
    # The victim was not kicked and the game still starts for the real host only.
    await the_host.send({"type": "start"})
    assert (await victim.recv("question"))["question"] == 0
    await mallory.send({"type": "end"})
    assert (await mallory.recv(["error"], skip=("question", "lobby")))["code"] == "not_host"
    assert await phase_of(server.base_url, pin) == "ACTIVE"
    for client in (the_host, mallory, victim):
        await client.close()


async def test_wrong_host_token_is_closed_4401(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    client = await Client.connect(f"{server.ws_url}/ws/host/{game['pin']}")
    await client.send({"type": "host", "token": "not-the-token"})
    assert await client.closed_with() == 4401
    assert await phase_of(server.base_url, game["pin"]) == "WAITING"


async def test_wrong_question_and_second_answer_never_count(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=2, time_limit=30))
    pin = game["pin"]
    the_host = await host(server.ws_url, game)
    ada, _ = await player(server.ws_url, pin, "Ada")
    bob, _ = await player(server.ws_url, pin, "Bob")
    await the_host.send({"type": "start"})
    await ada.recv("question")
    await bob.recv("question")

    # An answer naming the next question is refused and not kept for it.
    await ada.send({"type": "answer", "question": 1, "option": 1})
    assert (await ada.recv("error")) | {"message": ""} == {
        "type": "error", "code": "wrong_question", "message": "", "question": 1}
    await ada.send({"type": "answer", "question": 7, "option": 0})
    assert (await ada.recv("error"))["code"] == "wrong_question"
    await ada.send({"type": "answer", "question": 0, "option": 9})
    assert (await ada.recv("error"))["code"] == "invalid_option"
    await ada.send({"type": "answer", "question": 0, "option": 0})
    await ada.recv("answer_ack")
    await ada.send({"type": "answer", "question": 0, "option": 3})
    error = await ada.recv("error")
    assert error["code"] == "already_answered" and error["question"] == 0

    await bob.send({"type": "answer", "question": 0, "option": 2})
    await bob.recv("answer_ack")
    reveal = await ada.recv("reveal")
    assert reveal["distribution"] == [1, 0, 1, 0]  # Ada's first answer (0) only, not her 3
    assert reveal["you"]["correct"] is True

    await the_host.send({"type": "next"})
    await ada.recv("question", skip=("leaderboard", "lobby"))
    await bob.recv("question", skip=("leaderboard", "lobby", "reveal"))
    await asyncio.sleep(0.3)
    # Question 1 has no answer from Ada: the early one was never carried over.
    await bob.send({"type": "answer", "question": 1, "option": 1})
    await bob.recv("answer_ack")
    await ada.send({"type": "answer", "question": 1, "option": 2})
    await ada.recv("answer_ack")
    reveal = await ada.recv("reveal")
    assert reveal["distribution"] == [0, 1, 1, 0]
    assert reveal["you"]["answered"] is True and reveal["you"]["correct"] is False
    for client in (the_host, ada, bob):
        await client.close()


async def test_two_hundred_simultaneous_answers(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=1, time_limit=60))
    pin = game["pin"]
    the_host = await host(server.ws_url, game)
    clients = await asyncio.gather(*(player(server.ws_url, pin, f"P{i:03d}") for i in range(200)))
    await the_host.send({"type": "start"})
    await asyncio.gather(*(c.recv("question") for c, _ in clients))
    await the_host.recv("question")
    # All 200 in the same instant (every frame already written before any ack is read).
    await asyncio.gather(
        *(c.send({"type": "answer", "question": 0, "option": i % 4}) for i, (c, _) in enumerate(clients))
    )
    acks = await asyncio.gather(*(c.recv("answer_ack") for c, _ in clients))
    assert len(acks) == 200 and all(a["accepted"] for a in acks)
    reveal = await the_host.recv("reveal", timeout=10)
    assert sum(reveal["distribution"]) == 200 and reveal["distribution"] == [50, 50, 50, 50]
    reveals = await asyncio.gather(*(c.recv("reveal") for c, _ in clients))
    assert all(r["you"]["answered"] for r in reveals)
    await asyncio.gather(*(c.close() for c, _ in clients), the_host.close())


async def test_a_question_closes_at_its_deadline_on_the_real_clock(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=2, time_limit=5))
    pin = game["pin"]
    the_host = await host(server.ws_url, game)
    ada, _ = await player(server.ws_url, pin, "Ada")
    bob, _ = await player(server.ws_url, pin, "Bob")
    await the_host.send({"type": "start"})
    question = await ada.recv("question")
    # Nobody answers: the question closes at its deadline, within a few hundred ms. (A player
    # whose reconnect grace ran out is not waited for: test_app_clock.py, on a fake clock.)
    reveal = await ada.recv("reveal", timeout=10)
    assert reveal["you"]["answered"] is False
    received_ms = time.time_ns() // 1_000_000
    late_by = received_ms - question["deadline"]
    assert 0 <= late_by < 1500, late_by
    for client in (ada, bob, the_host):
        await client.close()


@pytest.mark.parametrize("phase_command", [None, "start"])
async def test_end_from_any_phase_finishes(server: ServerProcess, phase_command: str | None) -> None:
    game = await create_game(server.base_url)
    the_host = await host(server.ws_url, game)
    ada, _ = await player(server.ws_url, game["pin"], "Ada")
    if phase_command:
        await the_host.send({"type": phase_command})
        await ada.recv("question")
        await ada.send({"type": "answer", "question": 0, "option": 0})
        await ada.recv("answer_ack")
    await the_host.send({"type": "end"})
    finished = await ada.recv("finished", skip=("lobby", "reveal", "leaderboard", "answer_count"))
    assert finished["you"]["rank"] == 1
    assert finished["you"]["answers"] == (1 if phase_command else 0)
    assert await phase_of(server.base_url, game["pin"]) == "FINISHED"
    late = await Client.connect(f"{server.ws_url}/ws/play/{game['pin']}")
    await late.send({"type": "join", "name": "Late"})
    assert (await late.recv("error"))["code"] == "finished"
    for client in (the_host, ada, late):
        await client.close()
