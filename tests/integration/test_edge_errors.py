"""Server-side failures reach clients as JSON errors with stable codes, never a traceback:
running out of PINs, and Redis going away under a running server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis
import websockets

from gameserver.embedded_redis import EmbeddedRedis
from tests.support import quiz, start_server

#: Fills every PIN the server draws from (100000-999999) with a game: a server can create none.
FILL_ALL_PINS = """
for pin = 100000, 999999 do redis.call('SET', 'game:{' .. pin .. '}:meta', '1') end
return 1
"""


def assert_json_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text and "File \"" not in response.text
    assert response.json()["error"]["code"] == code
    assert isinstance(response.json()["error"]["message"], str)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "valkey", appendonly=False)
    server.start()
    yield server
    server.stop()


async def test_running_out_of_pins_answers_503_server_busy(tmp_path: Path, own_redis: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(own_redis.url)
    client.eval(FILL_ALL_PINS, 0)
    client.close()
    server = start_server(tmp_path / "server", own_redis.url)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            response = await http.post("/api/games", json=quiz())
            assert_json_error(response, 503, "server_busy")
            assert int(response.headers["retry-after"]) > 0
            # The server is still up and answers the rest of the API as usual.
            assert (await http.get("/api/games/000001")).json()["error"]["code"] == "unknown_game"
    finally:
        server.stop()


async def test_redis_down_answers_json_503_and_closes_new_sockets_1011(
    tmp_path: Path, own_redis: EmbeddedRedis,
) -> None:
    server = start_server(tmp_path / "server", own_redis.url)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            created = await http.post("/api/games", json=quiz())
            assert created.status_code == 201
            pin = created.json()["pin"]
            own_redis.stop()
            assert_json_error(await http.post("/api/games", json=quiz()), 503, "server_busy")
            assert_json_error(await http.get("/api/games/123456"), 503, "server_busy")
            assert_json_error(await http.post(f"/api/games/{pin}/players", json={"name": "Ann"}), 503, "server_busy")
            health = await http.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "unavailable"
        for path in ("/ws/play/123456", "/ws/host/654321"):
            async with websockets.connect(f"{server.ws_url}{path}", open_timeout=30) as ws:
                error = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                assert error == {"type": "error", "code": "server_error", "message": "try again"}
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 30)
            assert closed.value.rcvd is not None, "closed with a close frame"
            assert closed.value.rcvd.code == 1011

    finally:
        server.stop()
