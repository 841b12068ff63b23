"""Nothing reaches a socket before its welcome, and nothing published meanwhile is lost
(issue 15 item 8): players resume while the host moves the game on. Real server, real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support import Client, ServerProcess, create_game, host, player, quiz

PLAYERS = 30
ROUNDS = 6


def step_of(message: dict[str, Any]) -> tuple[str, int] | None:
    if message.get("type") in ("question", "reveal", "leaderboard"):
        return str(message["type"]), int(message["question"])
    return None


async def resume(ws_url: str, pin: str, token: str) -> Client:
    client = await Client.connect(f"{ws_url}/ws/play/{pin}")
    await client.send({"type": "resume", "token": token})
    first = await client.next_message()
    assert first["type"] == "joined", f"a broadcast reached the socket before its welcome: {first}"
    return client


async def seen(client: Client, wanted: tuple[str, int], timeout: float = 10) -> None:
    """Read until `client` has received the step `wanted` (it may have come with the welcome)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while wanted not in map(step_of, client.received):
        await client.next_message(until - loop.time())


async def test_players_resuming_while_the_game_moves_get_their_welcome_first_and_miss_nothing(
    server: ServerProcess,
) -> None:
    game = await create_game(server.base_url, quiz(n=ROUNDS, time_limit=60))
    pin = game["pin"]
    the_host = await host(server.ws_url, game)
    tokens = []
    for i in range(PLAYERS):
        client, joined = await player(server.ws_url, pin, f"P{i}")
        tokens.append(joined["token"])
        await client.close()
    await the_host.send({"type": "start"})
    await the_host.recv("question")
    # Each round: everyone comes back while the host takes one exact step (close the question,
    # or open the next), so the step is published while many sockets are between attaching
    # and their welcome.
    for round_ in range(ROUNDS * 2 - 2):
        question, closing = round_ // 2, round_ % 2 == 0
        command = {"type": "next", "question": question, "phase": "ACTIVE" if closing else "BETWEEN"}
        expected = ("reveal", question) if closing else ("question", question + 1)
        resumes = [asyncio.create_task(resume(server.ws_url, pin, token)) for token in tokens]
        await asyncio.sleep(0.005 * (round_ % 3))
        await the_host.send(command)
        clients = await asyncio.gather(*resumes)
        await the_host.recv(expected[0], skip=("lobby", "answer_count", "leaderboard", "reveal", "question"))
        for client in clients:
            await seen(client, expected)
            steps = [step for step in map(step_of, client.received) if step is not None]
            assert steps.count(expected) == 1, steps  # once: not from the welcome and again
        await asyncio.gather(*(client.close() for client in clients))
    await the_host.close()
