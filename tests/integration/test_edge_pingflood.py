"""A socket flooding WebSocket control frames spends the same budget as one flooding messages:
its pings are refused past the budget and it is closed with 1008, while another player of the
same game keeps being answered at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from loadtests import rawws
from tests.support import ServerProcess, create_game, host, player, quiz

# The victim must be answered at once while the flood is written as fast as the socket takes it.
pytestmark = pytest.mark.alone

FLOOD_FRAMES = 200_000  # 1.2 MB of empty pings, written as fast as the socket takes them


async def test_a_ping_flood_is_closed_1008_and_the_victim_is_served(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=1, time_limit=60))
    the_host = await host(server.ws_url, game)
    victim, _ = await player(server.ws_url, game["pin"], "Victim")
    reader, writer = await rawws.connect(server.port, f"/ws/play/{game['pin']}")
    writer.write(rawws.client_frame(0x1, b'{"type":"join","name":"Flood"}'))
    await writer.drain()
    started = time.monotonic()

    async def flood() -> None:
        data = rawws.pings(FLOOD_FRAMES)
        try:
            for offset in range(0, len(data), 65536):
                writer.write(data[offset:offset + 65536])
                await writer.drain()
        except ConnectionError:
            pass  # closed by the server, as it should be

    flooding = asyncio.create_task(flood())
    code, pongs = await asyncio.wait_for(rawws.close_code(reader), 10)
    closed_after = time.monotonic() - started
    await flooding
    writer.close()
    assert code == 1008
    assert pongs <= 40, pongs  # the budget (burst 20) and the strikes (20), not 200,000
    assert closed_after < 2.0, closed_after
    # The victim is answered at once, and the game goes on.
    sent = time.monotonic()
    await victim.send({"type": "ping", "t": 1})
    await victim.recv("pong")
    assert time.monotonic() - sent < 0.5
    await the_host.send({"type": "start"})
    question = await victim.recv("question")
    await victim.send({"type": "answer", "question": question["question"], "option": 0})
    await victim.recv("answer_ack")
    await victim.close()
    await the_host.close()


async def test_a_few_keepalive_pings_are_answered(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=1))
    reader, writer = await rawws.connect(server.port, f"/ws/play/{game['pin']}")
    for _ in range(5):
        writer.write(rawws.client_frame(rawws.OP_PING, b"hi"))
        await writer.drain()
        opcode, payload = await asyncio.wait_for(rawws.read_frame(reader), 5)
        assert (opcode, payload) == (rawws.OP_PONG, b"hi")
    writer.close()
