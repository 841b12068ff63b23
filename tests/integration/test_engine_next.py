"""`next` moves a game one step per intent: two host screens, a double tap or a retry never
skip a question or a reveal (issue 15 item 5). Real server processes, real Redis: a retry on
the socket before the reveal, two hosts on two processes. The repeat window and `next` naming
its step, on the service's clock: test_service_time.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.support import Client, ServerProcess, create_game, host, no_message, player, quiz, two_servers


@pytest.fixture(scope="module")
def shared_pair(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes for all rounds: each round is a game of its own, so the rounds
    repeat the race without paying for two server starts each."""
    with two_servers(tmp_path_factory.mktemp("pair"), redis_url) as pair:
        yield pair


def send_together(client: Client, messages: list[dict[str, Any]]) -> None:
    """Frame `messages` (JSON text) and write them to the socket in one write: one TCP segment
    on loopback, which the server reads, and stamps, at once."""
    protocol = client.ws.protocol  # websockets' Sans-I/O protocol: frames and masks, no I/O
    for message in messages:
        protocol.send_text(orjson.dumps(message))
    client.ws.transport.write(b"".join(protocol.data_to_send()))


async def game_state(base_url: str, pin: str) -> str:
    async with httpx.AsyncClient() as http:
        return str((await http.get(f"{base_url}/api/games/{pin}")).json()["phase"])


async def test_a_retried_close_does_not_skip_the_reveal(server: ServerProcess) -> None:
    """`next`, `next` while a question runs: the second arrives before the reveal it would
    skip (as a retry after `server_error` does) and is refused; the reveal stays."""
    game = await create_game(server.base_url, quiz(n=3, time_limit=20))
    the_host = await host(server.ws_url, game)
    ada, _ = await player(server.ws_url, game["pin"], "Ada")
    await the_host.send({"type": "start"})
    await ada.recv("question")
    await asyncio.sleep(1.1)  # question 0 was opened by `start`, not by a `next`
    # Both in one write, so the second reaches the server before the reveal exists. Two sends
    # could be apart by however long a loaded box keeps this process off the CPU, and a `next`
    # the server gets after the reveal rightly moves on (a full run failed so once).
    send_together(the_host, [{"type": "next"}, {"type": "next"}])
    assert (await ada.recv("reveal"))["question"] == 0
    await ada.recv("leaderboard")
    await no_message(ada, {"question"}, 1.0)
    assert await game_state(server.base_url, game["pin"]) == "BETWEEN"
    for client in (the_host, ada):
        await client.close()


@pytest.mark.parametrize("round_", range(3))
async def test_two_hosts_pressing_next_at_once_advance_one_step(
    shared_pair: tuple[ServerProcess, ServerProcess], round_: int
) -> None:
    first, second = shared_pair
    game = await create_game(first.base_url, quiz(n=3, time_limit=20))
    host_a = await host(first.ws_url, game)
    host_b = await host(second.ws_url, game)
    ada, _ = await player(second.ws_url, game["pin"], "Ada")
    await host_a.send({"type": "start"})
    await ada.recv("question")
    await asyncio.sleep(0.2)
    await asyncio.gather(host_a.send({"type": "next"}), host_b.send({"type": "next"}))  # close q0
    assert (await ada.recv("reveal"))["question"] == 0
    await ada.recv("leaderboard")
    await no_message(ada, {"question"}, 1.2)
    assert await game_state(first.base_url, game["pin"]) == "BETWEEN"
    await asyncio.gather(host_a.send({"type": "next"}), host_b.send({"type": "next"}))  # open q1
    assert (await ada.recv("question"))["question"] == 1
    await no_message(ada, {"question", "reveal"}, 1.5)
    assert await game_state(first.base_url, game["pin"]) == "ACTIVE"
    for client in (host_a, host_b, ada):
        await client.close()
