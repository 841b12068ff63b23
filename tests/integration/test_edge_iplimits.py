"""Per-address limits on joins, game creation and PIN look-ups hold across server processes
(counted in Redis: one, or a Redis Cluster) and answer `429 rate_limited` with `Retry-After`; a class behind one NAT
(60 joins in 10 s) gets in, the 61st join from that address does not, and other addresses
are untouched. Addresses are told apart by X-Forwarded-For from a trusted proxy (127.0.0.1
here), and only from one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from redis import Redis

from gameserver.embedded_redis import EmbeddedRedis
from gameserver.redis_client import is_cluster_url
from tests.cluster_support import LocalCluster
from tests.engine_support import ADDRESS_BUDGETS, forget, forget_on_cluster
from tests.support import ServerProcess, create_game, quiz, start_server

LIMITS_ON = {
    "LIVEQUIZ_IP_JOIN_LIMIT": "60", "LIVEQUIZ_IP_JOIN_WINDOW_S": "10",
    "LIVEQUIZ_IP_CREATE_LIMIT": "30", "LIVEQUIZ_IP_CREATE_WINDOW_S": "10",
    "LIVEQUIZ_IP_LOOKUP_MISS_LIMIT": "60", "LIVEQUIZ_IP_LOOKUP_MISS_WINDOW_S": "10",
}
WINDOW_S = 10


@pytest.fixture(scope="module", params=["private", "cluster"])
def counters_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The counters of this module's servers: a private Redis, or the session's Redis Cluster.
    `two_servers` forgets the address budgets in them before each test."""
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("local_cluster")
        yield cluster.url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("valkey"), appendonly=False) as redis:
        yield redis.url


@pytest.fixture(scope="module")
def limited_servers(
    tmp_path_factory: pytest.TempPathFactory, counters_url: str,
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes sharing the counters, trusting 127.0.0.1 as a proxy; started once for the
    module's tests of one counter store (a start costs seconds of CPU)."""
    env = LIMITS_ON | {"LIVEQUIZ_TRUSTED_PROXIES": "127.0.0.1"}
    first = start_server(tmp_path_factory.mktemp("a"), counters_url, env)
    try:
        second = start_server(tmp_path_factory.mktemp("b"), counters_url, env)
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def two_servers(
    request: pytest.FixtureRequest, counters_url: str, limited_servers: tuple[ServerProcess, ServerProcess],
) -> tuple[ServerProcess, ServerProcess]:
    """The module's two processes, with every address's budgets forgotten, as a fresh pair's
    would be. (What a process keeps itself, an address blocked after its look-up budget ran
    out, lasts to its window's end: each test spends budgets of addresses of its own.)"""
    if is_cluster_url(counters_url):
        forget_on_cluster(request.getfixturevalue("local_cluster"))
    else:
        forget(Redis.from_url(counters_url), ADDRESS_BUDGETS)
    return limited_servers


def window_with_room(needed_s: float) -> None:
    """Wait for the next counting window unless `needed_s` are left in this one, so that a run
    of requests taking less than that falls in one window."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < needed_s:
        time.sleep(left + 0.05)


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW_S


async def ws_join(server: ServerProcess, pin: str, name: str, ip: str) -> dict[str, Any]:
    async with websockets.connect(f"{server.ws_url}/ws/play/{pin}", additional_headers=from_ip(ip)) as ws:
        await ws.send(orjson.dumps({"type": "join", "name": name}).decode())
        while True:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] in ("joined", "error"):
                return dict(message)


async def test_a_class_behind_one_nat_joins_and_the_61st_join_is_refused_on_every_process(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers
    game = await create_game(first.base_url, quiz())
    pin = game["pin"]
    school = "203.0.113.7"
    window_with_room(6)  # its 62 joins take 0.5-2 s on a busy box
    async with httpx.AsyncClient(timeout=10) as http:
        for i in range(30):  # half the class over HTTP on one process...
            response = await http.post(f"{first.base_url}/api/games/{pin}/players", json={"name": f"H{i}"},
                                       headers=from_ip(school))
            assert response.status_code == 201, (i, response.text)
        for i in range(30):  # ...half over WebSocket on the other
            assert (await ws_join(second, pin, f"W{i}", school))["type"] == "joined", i
        assert_limited(await http.post(f"{first.base_url}/api/games/{pin}/players", json={"name": "Bot1"},
                                       headers=from_ip(school)))
        refused = await ws_join(second, pin, "Bot2", school)
        assert refused["code"] == "rate_limited" and 1 <= int(refused["retry_after"]) <= WINDOW_S
        # A student at another address is not held up by the school's budget.
        other = await http.post(f"{second.base_url}/api/games/{pin}/players", json={"name": "Home"},
                                headers=from_ip("198.51.100.20"))
        assert other.status_code == 201
        assert (await http.get(f"{first.base_url}/api/games/{pin}")).json()["players"] == 61
        # The budget comes back with the next window.
        await asyncio.sleep(WINDOW_S - time.time() % WINDOW_S + 0.1)
        again = await http.post(f"{second.base_url}/api/games/{pin}/players", json={"name": "Late"},
                                headers=from_ip(school))
        assert again.status_code == 201, again.text


async def test_game_creation_is_limited_per_address_across_processes(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers
    window_with_room(5)  # 32 requests: 0.4-0.6 s on a busy box
    async with httpx.AsyncClient(timeout=10) as http:
        for i in range(30):
            server = (first, second)[i % 2]
            response = await http.post(f"{server.base_url}/api/games", json=quiz(1), headers=from_ip("203.0.113.9"))
            assert response.status_code == 201, (i, response.text)
        assert_limited(await http.post(f"{first.base_url}/api/games", json=quiz(1), headers=from_ip("203.0.113.9")))
        assert_limited(await http.post(f"{second.base_url}/api/games", json=quiz(1), headers=from_ip("203.0.113.9")))
        assert (await http.post(f"{first.base_url}/api/games", json=quiz(1),
                                headers=from_ip("203.0.113.10"))).status_code == 201


async def test_a_pin_scan_is_stopped_over_http_and_websocket_and_then_learns_nothing(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers
    game = await create_game(first.base_url, quiz())
    real_pin, scanner = game["pin"], "203.0.113.66"
    unknown = [f"{n:06d}" for n in range(100_000, 100_200) if f"{n:06d}" != real_pin]
    window_with_room(5)  # 63 look-ups: about 1 s on a busy box
    async with httpx.AsyncClient(timeout=10) as http:
        for pin in unknown[:40]:
            response = await http.get(f"{first.base_url}/api/games/{pin}", headers=from_ip(scanner))
            assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_game"
        for pin in unknown[40:60]:  # sockets to unknown PINs count too, on the other process
            async with websockets.connect(f"{second.ws_url}/ws/play/{pin}", additional_headers=from_ip(scanner)) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
        assert_limited(await http.get(f"{first.base_url}/api/games/{unknown[60]}", headers=from_ip(scanner)))
        # Over its budget the scanner cannot tell a real PIN from an unknown one.
        assert_limited(await http.get(f"{first.base_url}/api/games/{real_pin}", headers=from_ip(scanner)))
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{second.ws_url}/ws/play/{unknown[61]}", additional_headers=from_ip(scanner))
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        assert orjson.loads(refused.value.response.body)["error"]["code"] == "rate_limited"
        # Everyone else still finds the game.
        found = await http.get(f"{second.base_url}/api/games/{real_pin}", headers=from_ip("198.51.100.3"))
        assert found.status_code == 200


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "valkey", appendonly=False) as redis:
        server = start_server(tmp_path / "s", redis.url, LIMITS_ON | {"LIVEQUIZ_TRUSTED_PROXIES": ""})
        try:
            window_with_room(5)  # 31 requests: about 1 s on a busy box
            async with httpx.AsyncClient(timeout=10) as http:
                for i in range(30):  # a fresh made-up address each time: all still one peer
                    response = await http.post(f"{server.base_url}/api/games", json=quiz(1),
                                               headers=from_ip(f"192.0.2.{i + 1}"))
                    assert response.status_code == 201
                assert_limited(await http.post(f"{server.base_url}/api/games", json=quiz(1),
                                               headers=from_ip("192.0.2.200")))
        finally:
            server.stop()
