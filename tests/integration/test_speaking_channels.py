"""The Speaking rooms' one subscriber per process (`speaking_channel.SpeakingChannels`), on a
real Redis and the session's Redis Cluster.

A room's sockets share its channel's subscription until the last one leaves; a socket that does
not take its messages is ended (`FellBehind`) while the others go on. In a server process: 40
rooms of two sockets each are heard through one subscriber connection (one per master on a
cluster), counted in the server's own connections of `CLIENT LIST`; with a pool of 4 Redis
connections a game plays while 8 Speaking sockets are open (each socket took a pooled
connection for its life before); and a lost subscription (`CLIENT KILL` of the subscriber's
connection) closes the rooms' sockets with "try again" (1011), after which a rejoin relays.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import redis

from gameserver.atomic import AtomicBatch
from gameserver.platform import speaking_channel
from gameserver.platform.speaking_channel import FellBehind, SpeakingChannels
from gameserver.redis_client import RedisClient, cluster_seeds, is_cluster_url
from tests.integration.test_speaking_room import booked_slot
from tests.platform_support import Account, platform_server
from tests.speaking_support import RoomClient
from tests.sql_support import SqlTarget
from tests.support import ServerProcess, create_game, host, player, quiz

TRY_AGAIN = (1011, "the room is unavailable; try again")


def _channel() -> str:
    return f"livequiz:speaking:{{{secrets.randbelow(10**12)}-1}}:channel"


async def _publish(engine: RedisClient, channel: str, *payloads: bytes) -> None:
    batch = AtomicBatch(engine, [channel])  # the channel carries its room's hash tag
    for payload in payloads:
        batch.announce(channel, payload)
    await batch.execute()


async def _subscribers(engine: RedisClient, channel: str) -> int:
    """How many connections Redis has subscribed to `channel` (on a cluster: its master's)."""
    if isinstance(engine, redis.asyncio.RedisCluster):
        node = engine.get_node_from_key(channel)
        reply = await engine.execute_command("PUBSUB", "SHARDNUMSUB", channel, target_nodes=node)
    else:
        reply = await engine.execute_command("PUBSUB", "NUMSUB", channel)  # type: ignore[no-untyped-call]
    return int(reply[1])


# -- the module, in this process ---------------------------------------------------------


async def test_a_rooms_sockets_share_its_subscription_until_the_last_leaves(engine: RedisClient) -> None:
    channels = SpeakingChannels(engine)
    one, other = _channel(), _channel()
    first, second, third = (await channels.subscribe(one), await channels.subscribe(one),
                            await channels.subscribe(other))
    try:
        assert await _subscribers(engine, one) == 1 and await _subscribers(engine, other) == 1
        await _publish(engine, one, b"to both")
        await _publish(engine, other, b"to the other room")
        assert await asyncio.wait_for(anext(first.messages()), 5) == b"to both"
        assert await asyncio.wait_for(anext(second.messages()), 5) == b"to both"
        assert await asyncio.wait_for(anext(third.messages()), 5) == b"to the other room"
        await first.close()
        assert await _subscribers(engine, one) == 1  # the room's other socket is still here
        await _publish(engine, one, b"to the one left")
        assert await asyncio.wait_for(anext(second.messages()), 5) == b"to the one left"
        await second.close()
        assert await _subscribers(engine, one) == 0
        assert channels.running  # the other room still listens
        await third.close()
        assert await _subscribers(engine, other) == 0
        assert not channels.running  # no room: its connection is back
        again = await channels.subscribe(one)  # and it starts again with the next socket
        await _publish(engine, one, b"again")
        assert await asyncio.wait_for(anext(again.messages()), 5) == b"again"
        await again.close()
    finally:
        await channels.stop()


async def test_a_socket_that_falls_behind_is_ended_and_the_others_go_on(engine: RedisClient) -> None:
    channels = SpeakingChannels(engine)
    channel = _channel()
    reading, stuck = await channels.subscribe(channel), await channels.subscribe(channel)
    received = reading.messages()
    try:
        sent = 0
        for _ in range(6):  # 300 messages in rounds of 50: the reading socket keeps up
            await _publish(engine, channel, *(b"m%d" % n for n in range(sent, sent + 50)))
            for n in range(sent, sent + 50):
                assert await asyncio.wait_for(anext(received), 5) == b"m%d" % n
            sent += 50
        assert sent > speaking_channel.QUEUE_MESSAGES
        with pytest.raises(FellBehind):
            await asyncio.wait_for(anext(stuck.messages()), 5)  # at once: what waited is dropped
    finally:
        await reading.close()
        await stuck.close()
        await channels.stop()


# -- a server process ----------------------------------------------------------------------


def _server_ports(server: ServerProcess, redis_port: int) -> set[int]:
    """The local ports of the server's TCP connections to `redis_port`."""
    process = psutil.Process(server.process.pid)
    return {conn.laddr.port for proc in (process, *process.children(recursive=True))
            for conn in proc.net_connections("tcp") if conn.raddr and conn.raddr.port == redis_port}


def _server_clients(server: ServerProcess, host_name: str, port: int) -> list[dict[str, Any]]:
    """The server's connections as the Redis at host:port lists them (`CLIENT LIST`)."""
    with redis.Redis(host=host_name, port=port) as client:
        listed: list[dict[str, Any]] = client.client_list()
    ports = _server_ports(server, port)
    return [c for c in listed if int(str(c["addr"]).rsplit(":", 1)[1]) in ports]


def _redis_nodes(url: str) -> list[tuple[str, int]]:
    """Where a server connects: the one Redis, or every node of the cluster."""
    if is_cluster_url(url):
        return cluster_seeds(url)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        pytest.skip("the server's connections are told apart by their TCP ports: a unix socket has none")
    return [(parts.hostname, parts.port or 6379)]


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with SqlTarget("sqlite").prepared(tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module", params=["redis_url", "cluster_url"])
def shape_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


@pytest.fixture(scope="module")
def server(sqlite: SqlTarget, tmp_path_factory: pytest.TempPathFactory, shape_url: str) -> Iterator[ServerProcess]:
    with platform_server(sqlite, tmp_path_factory.mktemp("server"), shape_url) as process:
        yield process


@pytest.fixture(scope="module")
def small_pool_server(sqlite: SqlTarget, tmp_path_factory: pytest.TempPathFactory,
                      redis_url: str) -> Iterator[ServerProcess]:
    """One Redis, 4 pooled connections: the hub's subscriber, the Speaking rooms', two to share."""
    with platform_server(sqlite, tmp_path_factory.mktemp("small-pool"), redis_url,
                         {"LIVEQUIZ_REDIS_POOL_SIZE": "4"}) as process:
        yield process


@dataclass
class OpenRoom:
    owner: Account
    candidate: Account
    slot_id: int
    grader_socket: RoomClient
    candidate_socket: RoomClient

    @property
    def sockets(self) -> tuple[RoomClient, RoomClient]:
        return self.grader_socket, self.candidate_socket


async def _enter(server: ServerProcess, account: Account, slot_id: int) -> RoomClient:
    room = await RoomClient.connect(server.ws_url, slot_id, account.headers)
    await room.recv("welcome", timeout=30)
    return room


async def _open_rooms(server: ServerProcess, target: SqlTarget, rooms: int) -> list[OpenRoom]:
    """`rooms` booked rooms, each entered by its grader and its candidate (welcomed), at once."""
    booked = [await booked_slot(server, target) for _ in range(rooms)]
    sockets = await asyncio.gather(*(_enter(server, account, slot_id) for owner, candidate, slot_id in booked
                                     for account in (owner, candidate)))
    return [OpenRoom(owner, candidate, slot_id, sockets[2 * i], sockets[2 * i + 1])
            for i, (owner, candidate, slot_id) in enumerate(booked)]


async def _close_all(rooms: list[OpenRoom]) -> None:
    await asyncio.gather(*(socket.close() for room in rooms for socket in room.sockets))


async def _chat_is_heard(room: OpenRoom, text: str) -> None:
    await room.grader_socket.send({"type": "chat", "text": text})
    assert (await room.candidate_socket.recv("chat"))["text"] == text


@pytest.mark.slow
async def test_forty_rooms_of_two_sockets_are_heard_through_one_subscriber_connection(
    server: ServerProcess, sqlite: SqlTarget, shape_url: str
) -> None:
    nodes = _redis_nodes(shape_url)
    rooms = await _open_rooms(server, sqlite, 40)
    try:
        if is_cluster_url(shape_url):
            # One link per master that owns an open room's slot (sharded pub/sub), not per socket.
            links = [c for node in nodes for c in _server_clients(server, *node) if int(c.get("ssub", 0)) > 0]
            assert len(links) <= 3, links  # the session's cluster has 3 masters
            assert sum(int(c["ssub"]) for c in links) == 40, links
        else:
            subscribers = [c for c in _server_clients(server, *nodes[0]) if int(c["sub"]) > 0]
            # The hub's (its process channel; no game) and the Speaking rooms' (that, and 40 rooms).
            assert sorted(int(c["sub"]) for c in subscribers) == [1, 41], subscribers
        for room in rooms[::8]:
            await _chat_is_heard(room, "Can you hear me?")
    finally:
        await _close_all(rooms)


async def test_a_game_plays_while_more_speaking_sockets_are_open_than_the_pool_holds(
    small_pool_server: ServerProcess, sqlite: SqlTarget
) -> None:
    server = small_pool_server
    rooms = await _open_rooms(server, sqlite, 4)  # 8 sockets; the pool holds 4 connections
    try:
        game = await create_game(server.base_url, quiz(n=1, time_limit=30))
        the_host = await host(server.ws_url, game)
        ada, _ = await player(server.ws_url, game["pin"], "Ada")
        await the_host.send({"type": "start"})
        await ada.recv("question")
        await ada.send({"type": "answer", "question": 0, "option": 0})
        await ada.recv("answer_ack")
        await the_host.send({"type": "next"})  # closes the question
        assert (await ada.recv("reveal"))["you"]["score"] > 0
        for client in (ada, the_host):
            await client.close()
        await _chat_is_heard(rooms[0], "Still here")  # and the rooms relay
    finally:
        await _close_all(rooms)


async def test_a_lost_subscription_closes_the_rooms_sockets_with_try_again_and_a_rejoin_relays(
    small_pool_server: ServerProcess, sqlite: SqlTarget, redis_url: str
) -> None:
    server = small_pool_server
    node = _redis_nodes(redis_url)[0]
    rooms = await _open_rooms(server, sqlite, 2)
    (subscriber,) = [c for c in _server_clients(server, *node) if int(c["sub"]) > 1]  # its own channel, 2 rooms
    with redis.Redis(host=node[0], port=node[1]) as admin:
        assert admin.client_kill_filter(_id=subscriber["id"]) == 1
    closed = await asyncio.gather(*(socket.closed_with(timeout=15) for room in rooms for socket in room.sockets))
    assert closed == [TRY_AGAIN] * 4
    # The page rejoins: the room is heard again.
    room = rooms[0]
    rejoined = OpenRoom(room.owner, room.candidate, room.slot_id,
                        await _enter(server, room.owner, room.slot_id),
                        await _enter(server, room.candidate, room.slot_id))
    try:
        await _chat_is_heard(rejoined, "Back again")
    finally:
        await _close_all([rejoined])
