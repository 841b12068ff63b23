"""The connection bounds on the app's clock: a server in this process with `create_app(clock=
FakeClock)` and the server's own protocol classes (`httpprotocol`, `wsprotocol`), real sockets,
real Redis. A request whose headers do not come in time is dropped once the fake clock passes
its deadline (`deadlines.REQUEST_DEADLINES`), and a game socket that sends nothing is closed
1008 once it passes the first-message timeout (`ws.Session`), each not a moment before,
however much real time passes. (The same bounds on the real clock, against an attack:
test_edge_idle.py.)"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from gameserver import metrics
from gameserver.app import create_app
from gameserver.clock import FakeClock
from gameserver.connguard import guard_settings
from gameserver.deadlines import REQUEST_DEADLINES, TICK_S, TIMER_SLACK_S
from gameserver.settings import Settings
from tests.support import create_game, quiz

FIRST_MESSAGE_S = 10.0
#: Real time given to a deadline that has not passed on the fake clock, to show it holds.
QUIET_S = 0.3


async def eventually(check: Callable[[], bool | Awaitable[bool]], what: str, within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within_s
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        assert loop.time() < give_up, f"{what} did not happen"
        await asyncio.sleep(0.01)


def open_player_sockets() -> float:
    """Game sockets of players whose session runs in this process (the `livequiz_sockets` gauge)."""
    return sum(
        sample.value for family in metrics.SOCKETS.collect() for sample in family.samples
        if sample.labels.get("role") == "player"
    )


@pytest.fixture
async def on_fake_clock(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[FakeClock, int]]:
    """The app on a fake clock (wall time starting at the real one: other servers of the test
    session read this one's stamps in the shared Redis), served on 127.0.0.1:<port>."""
    clock = FakeClock(wall_ms=time.time_ns() // 1_000_000)
    settings = Settings(redis_url=redis_url, data_dir=tmp_path, first_message_timeout_s=FIRST_MESSAGE_S)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(settings, clock=clock), log_level="warning", lifespan="on",
        http="gameserver.httpprotocol:UpgradeFriendlyHttpProtocol",
        ws="gameserver.wsprotocol:FastWebSocketProtocol", ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "server failed to start"
        await asyncio.sleep(0.01)
    try:
        yield clock, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def test_headers_that_do_not_come_in_time_on_the_apps_clock_drop_the_connection(
    on_fake_clock: tuple[FakeClock, int],
) -> None:
    clock, port = on_fake_clock
    header_s = guard_settings()[0]
    real_start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: more to come
        await writer.drain()
        await eventually(lambda: len(REQUEST_DEADLINES) == 1, "the connection's header deadline")
        await clock.advance(header_s - 0.01)
        with pytest.raises(TimeoutError):  # still open: neither data nor the end comes
            await asyncio.wait_for(reader.read(1), QUIET_S)
        await clock.advance(0.01 + TICK_S + TIMER_SLACK_S)  # at most a tick after its time
        assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped, with nothing answered
        assert time.monotonic() - real_start < header_s  # by the fake clock, not the real one
        assert len(REQUEST_DEADLINES) == 0
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_game_socket_that_sends_nothing_is_closed_on_the_apps_clock(
    on_fake_clock: tuple[FakeClock, int],
) -> None:
    clock, port = on_fake_clock
    game = await create_game(f"http://127.0.0.1:{port}", quiz(2))
    sessions = open_player_sockets()
    real_start = time.monotonic()
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/play/{game['pin']}") as silent:
        await eventually(lambda: open_player_sockets() > sessions, "the player's session")
        await clock.advance(FIRST_MESSAGE_S - 0.01)
        with pytest.raises(TimeoutError):  # still open: nothing to read, no close
            await asyncio.wait_for(silent.recv(), QUIET_S)
        await clock.advance(0.01)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(silent.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert time.monotonic() - real_start < FIRST_MESSAGE_S  # by the fake clock, not the real one
