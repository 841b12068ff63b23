"""The Speaking room's WebSocket (issue 21, 000 §14) against two real server processes sharing
one Redis and one database, as deployed small (SQLite, one Redis) and large (PostgreSQL, a Redis
Cluster: the room's channel is sharded pub/sub there): who may enter and when, the relay of chat
and signalling between parties on different processes, the backlog a late joiner reads, the
bounds, the call recorded as held, every Redis key of the room expiring within the hour, and
the room closing at its end. Slot times are moved in the database instead of waiting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gameserver.redis_client import is_cluster_url
from persistence.accounts import tokens
from persistence.db import Database
from persistence.types import utcnow
from tests.engine_support import sync_client
from tests.platform_support import Account, make_account, platform_server
from tests.speaking_support import RoomClient, move_slot, publish, scheduled_exam
from tests.sql_support import PG_URL_ENV, SqlTarget
from tests.support import ServerProcess

NOT_OPEN, ENDED, FORBIDDEN, UNAUTHORIZED, NOT_FOUND, REPLACED = 4425, 4410, 4403, 4401, 4404, 4409


def deployments() -> list[Any]:
    """(SQL target, Redis fixture) pairs. The room keeps its entry rules, bookings and the call's
    record in SQL and its relay, backlog and presence in Redis, apart: each backend and each
    shape once tests what every pairing of them would, at half the server starts. Without a
    PostgreSQL to test against the cluster gets SQLite."""
    pg_url = os.environ.get(PG_URL_ENV, "")
    sqlite = SqlTarget("sqlite")
    large = SqlTarget("postgresql", url=pg_url) if pg_url else sqlite
    return [pytest.param((sqlite, "redis_url"), id="sqlite-redis_url"),
            pytest.param((large, "cluster_url"), id=f"{large.backend}-cluster_url")]


@pytest.fixture(scope="module", params=deployments())
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SqlTarget, str]]:
    target, redis_fixture = request.param
    with target.prepared(tmp_path_factory.mktemp("sql")) as ready:
        yield ready, str(request.getfixturevalue(redis_fixture))


@pytest.fixture(scope="module")
def sql_target(deployment: tuple[SqlTarget, str]) -> SqlTarget:
    return deployment[0]


@pytest.fixture(scope="module")
def shared_redis_url(deployment: tuple[SqlTarget, str]) -> str:
    """One Redis, or the session's Redis Cluster."""
    return deployment[1]


@pytest.fixture(scope="module")
def two_servers(
    sql_target: SqlTarget, tmp_path_factory: pytest.TempPathFactory, shared_redis_url: str
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with platform_server(sql_target, tmp_path_factory.mktemp("a"), shared_redis_url) as first, \
            platform_server(sql_target, tmp_path_factory.mktemp("b"), shared_redis_url) as second:
        yield first, second


_names = iter(range(1_000_000))


async def session_token(target: SqlTarget, account: Account) -> str:
    """A browser session of `account` (what login sets as the cookie)."""
    db = Database(target.url, schema=target.schema)
    try:
        async with db.transaction() as session:
            return (await tokens.issue(session, account.user_id, "session")).token
    finally:
        await db.dispose()


async def booked_slot(server: ServerProcess, target: SqlTarget, *, minutes_ago: float = 1,
                      duration: int = 15) -> tuple[Account, Account, int]:
    """An owner and a candidate of a booked slot that started `minutes_ago` (its room open)."""
    owner = await make_account(target, f"grader{next(_names)}")
    candidate = await make_account(target, f"cand{next(_names)}")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        exam_id = await scheduled_exam(http, owner)
        slot = await publish(http, owner, exam_id, 60, duration)
        booked = await http.post(f"/api/speaking-slots/{slot['id']}/booking", headers=candidate.headers)
        assert booked.status_code == 201, booked.text
    await move_slot(target, slot["id"], utcnow() - timedelta(minutes=minutes_ago), timedelta(minutes=duration))
    return owner, candidate, int(slot["id"])


async def test_only_the_two_parties_enter_and_only_while_open(
    two_servers: tuple[ServerProcess, ServerProcess], sql_target: SqlTarget
) -> None:
    server = two_servers[0]
    owner, candidate, slot_id = await booked_slot(server, sql_target)
    stranger = await make_account(sql_target, f"stranger{next(_names)}")
    _, other_candidate, _ = await booked_slot(server, sql_target)  # a candidate, but of another slot
    nonsense = {"Authorization": "Bearer nonsense"}
    for headers, expected in (({}, UNAUTHORIZED), (stranger.headers, FORBIDDEN),
                              (other_candidate.headers, FORBIDDEN), (nonsense, UNAUTHORIZED)):
        room = await RoomClient.connect(server.ws_url, slot_id, headers)
        assert (await room.closed_with())[0] == expected, headers
    room = await RoomClient.connect(server.ws_url, 987654, owner.headers)
    assert (await room.closed_with())[0] == NOT_FOUND
    # Six minutes before the start: not open yet (it opens at five).
    await move_slot(sql_target, slot_id, utcnow() + timedelta(minutes=6), timedelta(minutes=15))
    room = await RoomClient.connect(server.ws_url, slot_id, candidate.headers)
    code, reason = await room.closed_with()
    assert code == NOT_OPEN and "opens at" in reason
    await move_slot(sql_target, slot_id, utcnow() + timedelta(minutes=4), timedelta(minutes=15))
    room = await RoomClient.connect(server.ws_url, slot_id, candidate.headers)
    assert (await room.recv("welcome"))["role"] == "candidate"
    await room.close()
    # Ended 10 minutes ago: closed.
    await move_slot(sql_target, slot_id, utcnow() - timedelta(minutes=25, seconds=1), timedelta(minutes=15))
    room = await RoomClient.connect(server.ws_url, slot_id, owner.headers)
    assert (await room.closed_with())[0] == ENDED
    # A browser's session cookie rides only from this site (no cross-site WebSocket hijacking).
    await move_slot(sql_target, slot_id, utcnow(), timedelta(minutes=15))
    cookie = {"Cookie": f"lq_session={await session_token(sql_target, owner)}"}
    room = await RoomClient.connect(server.ws_url, slot_id, cookie | {"Origin": "http://evil.example"})
    assert (await room.closed_with())[0] == FORBIDDEN
    room = await RoomClient.connect(server.ws_url, slot_id, cookie | {"Origin": server.base_url})
    assert (await room.recv("welcome"))["role"] == "grader"
    await room.close()
    # The owner switches the exam's speaking to uploads: the room is no more.
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        exam_id = (await http.get(f"/api/speaking-slots/{slot_id}", headers=owner.headers)).json()["exam_id"]
        switched = await http.patch(f"/api/exams/{exam_id}", json={"speaking_mode": "async"}, headers=owner.headers)
        assert switched.status_code == 200, switched.text
    room = await RoomClient.connect(server.ws_url, slot_id, candidate.headers)
    code, reason = await room.closed_with()
    assert code == FORBIDDEN and "no longer a scheduled call" in reason

async def test_relay_between_processes_backlog_bounds_and_held(
    two_servers: tuple[ServerProcess, ServerProcess], sql_target: SqlTarget, shared_redis_url: str
) -> None:
    first, second = two_servers
    owner, candidate, slot_id = await booked_slot(first, sql_target)
    grader = await RoomClient.connect(first.ws_url, slot_id, owner.headers)
    welcome = await grader.recv("welcome")
    assert (welcome["role"], welcome["peer_present"], welcome["held"]) == ("grader", False, False)
    await grader.send({"type": "chat", "text": "  Hello, are you there?  "})
    said = await grader.recv("chat")
    assert (said["text"], said["from"], said["name"]) == ("Hello, are you there?", "grader", owner.username.title())
    # The candidate joins on the other process: the chat so far, then the grader hears of it.
    talker = await RoomClient.connect(second.ws_url, slot_id, candidate.headers)
    joined = await talker.recv("welcome")
    assert (joined["role"], joined["peer_present"], joined["peer_name"]) == (
        "candidate", True, owner.username.title())
    assert joined["max_message_bytes"] == 4096  # the server's frame bound: descriptions come in parts
    assert (await talker.recv("chat"))["text"] == "Hello, are you there?"
    assert (await grader.recv("peer"))["present"] is True
    assert (await grader.recv("call"))["state"] == "held"
    offer = {"type": "signal", "session": "s1", "description": {"type": "offer", "sdp": "v=0\r\n", "part": [0, 2]}}
    await grader.send(offer)
    relayed = await talker.recv("signal")
    assert relayed["description"] == offer["description"] and relayed["from"] == "grader"
    await talker.send({"type": "signal", "session": "s1", "candidate": {
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}})
    assert (await grader.recv("signal"))["candidate"]["sdpMid"] == "0"
    # Bad input: an error message, and the room goes on.
    for bad, code in (("{not json", "bad_message"), ('{"type": "dance"}', "unknown_type"),
                      ({"type": "chat", "text": "x" * 1001}, "too_long"),
                      ({"type": "signal", "session": "s1", "description": {"type": "offer", "sdp": 5}}, "bad_message"),
                      ({"type": "signal", "session": "s1"}, "bad_message"), ("[1, 2]", "bad_message"),
                      ({"type": "signal", "session": "s1", "description": {"type": "answer", "sdp": "a",
                                                                           "part": [2, 2]}}, "bad_message")):
        await talker.send(bad)
        assert (await talker.recv("error"))["code"] == code, bad
    await talker.send({"type": "chat", "text": "Yes, I am here."})
    assert (await grader.recv("chat"))["text"] == "Yes, I am here."
    # The call is on record, and every key of the room expires within the hour.
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        detail = (await http.get(f"/api/speaking-slots/{slot_id}", headers=owner.headers)).json()
    assert detail["state"] == "held" and detail["held_at"]
    client = sync_client(shared_redis_url)
    try:
        keys = list(client.scan_iter(f"livequiz:speaking:{{{slot_id}-*"))  # on a cluster: every master
        assert len(keys) >= 4, keys
        for key in keys:
            ttl = int(client.ttl(key))  # type: ignore[arg-type]
            assert 0 < ttl <= 3600, key
    finally:
        client.close()
    # A message over 64 KiB closes the socket that sent it.
    await talker.send({"type": "chat", "text": "y" * (70 * 1024)})
    assert (await talker.closed_with())[0] == 1009
    assert (await grader.recv("peer"))["present"] is False
    await grader.close()


async def test_rate_bound_and_a_second_window_takes_over(
    two_servers: tuple[ServerProcess, ServerProcess], sql_target: SqlTarget
) -> None:
    first, second = two_servers
    _, candidate, slot_id = await booked_slot(first, sql_target)
    talker = await RoomClient.connect(first.ws_url, slot_id, candidate.headers)
    await talker.recv("welcome")
    for _ in range(130):
        await talker.send({"type": "ping"})
    assert (await talker.recv("error"))["code"] == "rate_limited"
    # The same party in a second window takes the room over; the first is told why.
    again = await RoomClient.connect(second.ws_url, slot_id, candidate.headers)
    await again.recv("welcome")
    assert (await talker.closed_with())[0] == REPLACED
    await again.close()


async def test_a_cancelled_booking_leaves_the_room_and_its_chat_is_forgotten(
    two_servers: tuple[ServerProcess, ServerProcess], sql_target: SqlTarget
) -> None:
    """The room opens 5 minutes before the start and a booking may be cancelled until the start."""
    first, second = two_servers
    owner, candidate, slot_id = await booked_slot(first, sql_target)
    await move_slot(sql_target, slot_id, utcnow() + timedelta(minutes=4), timedelta(minutes=15))
    grader = await RoomClient.connect(first.ws_url, slot_id, owner.headers)
    await grader.recv("welcome")
    talker = await RoomClient.connect(second.ws_url, slot_id, candidate.headers)
    await talker.recv("welcome")
    await talker.send({"type": "chat", "text": "Something personal"})
    await grader.recv("chat")
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        cancelled = await http.delete(f"/api/speaking-slots/{slot_id}/booking", headers=candidate.headers)
        assert cancelled.status_code == 204
        assert (await talker.closed_with()) == (FORBIDDEN, "the booking was cancelled")
        assert (await grader.recv("peer"))["present"] is False
        newcomer = await make_account(sql_target, f"next{next(_names)}")
        booked = await http.post(f"/api/speaking-slots/{slot_id}/booking", headers=newcomer.headers)
        assert booked.status_code == 201, booked.text
    late = await RoomClient.connect(second.ws_url, slot_id, newcomer.headers)
    await late.recv("welcome")
    await late.send({"type": "ping"})
    await late.recv("pong")
    assert not [m for m in late.received if m["type"] == "chat"]  # nothing of the last candidate's
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        assert (await http.delete(f"/api/speaking-slots/{slot_id}", headers=owner.headers)).status_code == 204
    for room in (late, grader):
        assert (await room.closed_with()) == (FORBIDDEN, "the slot was withdrawn")


async def test_the_room_closes_its_sockets_at_its_end(
    two_servers: tuple[ServerProcess, ServerProcess], sql_target: SqlTarget, shared_redis_url: str
) -> None:
    if sql_target.backend != "sqlite" or is_cluster_url(shared_redis_url):
        pytest.skip("the room's clock is its process's own, on neither SQL nor Redis; once is enough")
    first = two_servers[0]
    owner, _, slot_id = await booked_slot(first, sql_target)
    # Closes in 8 s (ample for a socket to enter on a busy box): it is closed then, by the server.
    await move_slot(sql_target, slot_id, utcnow() - timedelta(minutes=24, seconds=52), timedelta(minutes=15))
    grader = await RoomClient.connect(first.ws_url, slot_id, owner.headers)
    await grader.recv("welcome")
    code, reason = await grader.closed_with(timeout=20)
    assert (code, reason) == (ENDED, "the room has closed")
