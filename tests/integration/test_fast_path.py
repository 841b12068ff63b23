"""Answers taken straight from the socket's read callback (`wsprotocol.FastPath`), and game
sockets taken straight to their endpoint (`app.LiveQuizApp`).

The server runs in this process (uvicorn with our protocol classes, a real Redis), so the test
can see which messages still went through the queued ASGI path: after a join, answers must
not; everything a client observes (acks, refusals with their question, rate limits, the close
when everyone answered) must be what the queued path gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.routing import Router
from starlette.types import Receive, Scope, Send
from websockets.exceptions import InvalidStatus

from gameserver.app import create_app
from gameserver.settings import Settings
from gameserver.ws import PlayerSession
from tests.support import Client, create_game, free_port, host, player, quiz


@pytest.fixture
async def in_process(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[str, str]]:
    settings = Settings(
        redis_url=redis_url, data_dir=tmp_path, lobby_interval_ms=100, rate_per_s=5, rate_burst=8, rate_strikes=100
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="gameserver.wsprotocol:FastWebSocketProtocol",
        http="gameserver.httpprotocol:UpgradeFriendlyHttpProtocol",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "server failed to start"
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Types of the player messages that reached the queued path (`PlayerSession.handle`)."""
    seen: list[str] = []
    original = PlayerSession.handle

    async def spy(self: PlayerSession, message: dict[str, Any], received_ms: int) -> None:
        seen.append(message.get("type", "?"))
        await original(self, message, received_ms)

    monkeypatch.setattr(PlayerSession, "handle", spy)
    return seen


async def test_answers_skip_the_queued_path_and_get_the_same_replies(
    in_process: tuple[str, str], queued: list[str]
) -> None:
    base, ws = in_process
    game = await create_game(base, quiz(2))
    the_host = await host(ws, game)
    ann, _ = await player(ws, game["pin"], "Ann")
    bob, _ = await player(ws, game["pin"], "Bob")
    await the_host.send({"type": "start"})
    question = await ann.recv("question")
    await bob.recv("question")

    await ann.send({"type": "answer", "question": 0, "option": 9})
    assert (await ann.recv("error"))["code"] == "invalid_option"
    await ann.send({"type": "answer", "question": 0, "option": question["question"] % 4})
    await ann.send({"type": "answer", "question": 0, "option": 1})
    assert await ann.recv("answer_ack") == {"type": "answer_ack", "question": 0, "accepted": True}
    refused = await ann.recv("error")
    assert refused["code"] == "already_answered" and refused["question"] == 0
    await ann.send({"type": "answer", "question": "0", "option": 1})
    assert (await ann.recv("error"))["code"] == "bad_message"
    await ann.send({"type": "ping", "t": 7})
    assert (await ann.recv("pong", skip=()))["t"] == 7  # not an answer: queued path

    await bob.send({"type": "answer", "question": 0, "option": 2})
    await bob.recv("answer_ack")
    reveal = await ann.recv("reveal")  # the last answer closes the question, as before
    assert reveal["question"] == 0 and reveal["you"]["answered"] and reveal["you"]["correct"]
    assert reveal["distribution"][reveal["correct"]] >= 1 and sum(reveal["distribution"]) == 2
    assert (await bob.recv("reveal"))["you"]["answered"]

    # Ann's second answer arrived while her first was still on its way to Redis: it went the
    # queued way, which waits for the first, so the replies kept their order (ack, then refusal).
    assert queued == ["join", "join", "answer", "ping"]
    for client in (ann, bob, the_host):
        await client.close()


async def test_the_fast_path_keeps_the_rate_limit(in_process: tuple[str, str], queued: list[str]) -> None:
    base, ws = in_process
    game = await create_game(base, quiz(1))
    the_host = await host(ws, game)
    ann, _ = await player(ws, game["pin"], "Ann")
    bob, _ = await player(ws, game["pin"], "Bob")  # does not answer: the question stays open
    await the_host.send({"type": "start"})
    await ann.recv("question")
    codes = []
    for _ in range(12):  # one at a time, each reply awaited: every one takes the fast path
        await ann.send({"type": "answer", "question": 0, "option": 3})
        message = await ann.recv(("answer_ack", "error"), skip=("reveal", "leaderboard", "lobby"))
        codes.append(message.get("code", "ack"))
    # A burst of 8 (the join took one), refilled at 5/s: the limiter still refuses the rest.
    assert codes[0] == "ack" and codes.count("rate_limited") >= 3
    assert set(codes[1:]) == {"already_answered", "rate_limited"}
    assert queued == ["join", "join"]
    for client in (ann, bob, the_host):
        await client.close()


async def test_game_sockets_skip_the_router_and_other_paths_do_not(
    in_process: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, ws = in_process
    routed: list[tuple[str, str]] = []
    original = Router.__call__

    async def spy(self: Router, scope: Scope, receive: Receive, send: Send) -> None:
        routed.append((scope["type"], scope["path"]))
        await original(self, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", spy)
    game = await create_game(base, quiz(1))
    the_host = await host(ws, game)
    ann, joined = await player(ws, game["pin"], "Ann")
    assert joined["pin"] == game["pin"]
    assert routed == [("http", "/api/games")]  # the host's and Ann's sockets went straight through
    with pytest.raises(InvalidStatus) as refused:  # Starlette's router refuses an unknown path, as before
        await Client.connect(f"{ws}/ws/nowhere/{game['pin']}")
    assert refused.value.response.status_code == 403
    assert routed[-1] == ("websocket", f"/ws/nowhere/{game['pin']}")
    bad_pin = await Client.connect(f"{ws}/ws/play/12ab")
    assert await bad_pin.closed_with() == 4404  # the endpoint still checks the PIN itself
    for client in (ann, the_host):
        await client.close()
