"""A master that stops answering without resetting its connections (SIGSTOP: as one cut off by
a partition) holds up only the games it serves: subscribing to games on the other masters does
not wait behind it (`sharded_pubsub.py`: per-node link opening, bounded waits; the hub has no
process-wide subscribe lock), nor do their joins and answers (`store/batcher.py`: one pipeline
in flight per master). SIGCONT follows in a finally.

The cluster is this module's own, with a `cluster-node-timeout` of a minute: the stopped
master is not failed over (nor the cluster declared down) while a test runs, so the node stays
the silent owner of its slots throughout.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis.asyncio.cluster import RedisCluster

from gameserver.keys import GameKeys
from gameserver.quizzes import Question, Quiz
from gameserver.sharded_pubsub import ShardedSubscription
from gameserver.store import GameStore, token_digest
from gameserver.store.records import GameRecord
from statemachine import Start, transition
from tests.cluster_support import ClusterNode, LocalCluster
from tests.cluster_support import cluster_client as open_cluster_client
from tests.integration.test_sharded_pubsub import Heard
from tests.support import Client, ServerProcess, create_game, host, player, quiz, start_server

pytestmark = pytest.mark.slow

T = TypeVar("T")

#: What "does not wait behind it" means here (0.1 s through the server, 1 ms for the
#: subscription alone, on a loaded 2-core box): the stopped master's own channels wait 2 s
#: (`SUBSCRIBE_TIMEOUT_S`), so one held behind them would take 1.7 s or more; a batched call
#: held behind the stopped master's pipeline would wait up to the socket timeout (20 s).
PROMPT_S = 1.0


@pytest.fixture(scope="module")
def slow_failover_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("partition-cluster"), node_timeout_ms=60_000) as cluster:
        yield cluster


@pytest.fixture
def server(tmp_path: Path, slow_failover_cluster: LocalCluster) -> Iterator[ServerProcess]:
    process = start_server(tmp_path / "server", slow_failover_cluster.url)
    yield process
    process.stop()


@pytest.fixture
async def cluster_client(slow_failover_cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    async with open_cluster_client(slow_failover_cluster.url) as client:
        yield client


async def test_a_game_on_another_master_is_served_while_one_master_is_stopped(
    server: ServerProcess, slow_failover_cluster: LocalCluster,
) -> None:
    """The process holds a game on master M (its link to M is open); M stops. A player then
    joins another game of M, whose subscription cannot be confirmed. Meanwhile a game on
    another master gets its host in and a player's join to the host's socket within
    `PROMPT_S`. Once M answers again, the stalled join completes.

    The other game is joined while the stalled join waits for its subscription (2 s at most);
    its seat then goes out in the join batcher's pipeline for M, which the other masters'
    joins do not wait behind (`test_batched_calls_of_another_master_do_not_wait_behind_a_stopped_one`)."""
    cluster = slow_failover_cluster
    by_master: dict[int, list[dict[str, object]]] = {}
    while not (len(by_master) >= 2 and any(len(games) >= 2 for games in by_master.values())):
        game = await create_game(server.base_url, quiz(n=1))
        port = cluster.master_of(GameKeys(str(game["pin"])).meta).port
        by_master.setdefault(port, []).append(game)
    stopped_port = next(port for port, games in by_master.items() if len(games) >= 2)
    held, stalled = by_master[stopped_port][:2]
    elsewhere = next(games[0] for port, games in by_master.items() if port != stopped_port)
    stopped = _node(cluster, stopped_port)

    held_host = await host(server.ws_url, held)  # the process's link to the master is open
    # The stalled game's socket is let in first (its PIN checked, and remembered, while the
    # master answers); its join then subscribes before anything else reads the game.
    stalled_player = await Client.connect(f"{server.ws_url}/ws/play/{stalled['pin']}")
    stalled_join: asyncio.Task[dict[str, Any]] | None = None
    stopped.freeze()
    try:
        await stalled_player.send({"type": "join", "name": "Stalled"})
        stalled_join = asyncio.create_task(stalled_player.recv("joined", timeout=40))
        await asyncio.sleep(0.3)  # its subscription is under way, and cannot be confirmed
        started = time.monotonic()
        elsewhere_host = await host(server.ws_url, elsewhere)
        joiner, _ = await player(server.ws_url, str(elsewhere["pin"]), "Elsewhere")
        lobby = await elsewhere_host.recv("lobby", skip=())
        while lobby["count"] == 0:  # the lobby as it was when the host came
            lobby = await elsewhere_host.recv("lobby", skip=())
        took = time.monotonic() - started
        assert lobby["count"] == 1 and [p["name"] for p in lobby["joined"]] == ["Elsewhere"]
        assert took < PROMPT_S, f"a game on another master waited {took:.1f} s behind the stopped one"
    finally:
        stopped.thaw()
    assert stalled_join is not None
    assert (await stalled_join)["type"] == "joined"
    await asyncio.gather(stalled_player.close(), joiner.close(), elsewhere_host.close(), held_host.close())


@pytest.mark.parametrize("link_open", [False, True], ids=["no-link-yet", "link-open"])
async def test_subscribing_on_other_masters_does_not_wait_for_a_stopped_one(
    cluster_client: RedisCluster, slow_failover_cluster: LocalCluster, link_open: bool,
) -> None:
    """No link to the stopped master is open yet (its handshake cannot finish) or one is (its
    SSUBSCRIBE cannot be confirmed): either way a channel of another master is subscribed
    within `PROMPT_S` and hears what is published. The stalled `subscribe` returns after its
    bounded wait; the channel is subscribed in the background once the master answers again,
    and its owner told (to catch up)."""
    cluster = slow_failover_cluster
    channels = [f"game:{{part{secrets.token_hex(4)}}}:events" for _ in range(40)]
    ports = {channel: cluster.master_of(channel).port for channel in channels}
    stopped_port = ports[channels[0]]
    placed_before, stalled_channel = [c for c in channels if ports[c] == stopped_port][:2]
    other = next(c for c in channels if ports[c] != stopped_port)
    stopped = _node(cluster, stopped_port)
    heard = Heard()
    subscription = ShardedSubscription(cluster_client, heard.on_message, heard.on_resubscribed)
    await subscription.start()
    try:
        if link_open:
            await subscription.subscribe(placed_before)
            assert stopped.address in subscription.links
        stopped.freeze()
        try:
            stalled = asyncio.create_task(subscription.subscribe(stalled_channel))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await subscription.subscribe(other)
            took = time.monotonic() - started
            await cluster_client.execute_command("SPUBLISH", other, b"prompt")
            await heard.until(lambda: (other.encode(), b"prompt") in heard.messages, timeout=PROMPT_S)
            assert took < PROMPT_S, f"waited {took:.1f} s behind the stopped master"
            await stalled  # it gave up waiting: the channel is placed in the background
            assert stalled_channel not in subscription.placed
            reported = heard.resubscribed
        finally:
            stopped.thaw()
        await heard.until(lambda: heard.resubscribed > reported and stalled_channel in subscription.placed, 30)
        await cluster_client.execute_command("SPUBLISH", stalled_channel, b"back")
        await heard.until(lambda: (stalled_channel.encode(), b"back") in heard.messages, timeout=10)
    finally:
        await subscription.stop()


async def test_batched_calls_of_another_master_do_not_wait_behind_a_stopped_one(
    cluster_client: RedisCluster, slow_failover_cluster: LocalCluster,
) -> None:
    """A join and an answer of a game on master M are in flight (in the store's batchers) when
    M stops; a join and an answer of a game on another master are answered within
    `PROMPT_S` all the same, not behind M's pipelines (up to the 20 s socket timeout). Once M
    answers again, the stalled join and answer complete."""
    cluster = slow_failover_cluster
    store = GameStore(cluster_client, game_ttl_s=600, results_ttl_s=900)
    pins: dict[int, str] = {}
    while len(pins) < 2:
        pin = str(secrets.randbelow(900_000) + 100_000)
        pins.setdefault(cluster.master_of(GameKeys(pin).meta).port, pin)
    (stopped_port, stalled_pin), (_, other_pin) = pins.items()
    for pin in (stalled_pin, other_pin):
        await _running_question(store, pin)
    stopped = _node(cluster, stopped_port)

    stopped.freeze()
    try:
        stalled_join = asyncio.create_task(_join(store, stalled_pin, "p1"))
        stalled_answer = store.answer_soon(stalled_pin, "p0", 0, 1, 5_100)
        await asyncio.sleep(0.3)  # both pipelines are sent, and wait for M
        assert not stalled_join.done() and not stalled_answer.done()
        joined = await _promptly(_join(store, other_pin, "p1"), "a join")
        answered = await _promptly(store.answer_soon(other_pin, "p0", 0, 1, 5_100), "an answer")
        assert joined.players == 2 and answered == (1, 0)
        assert not stalled_join.done() and not stalled_answer.done()
    finally:
        stopped.thaw()
    assert (await asyncio.wait_for(stalled_join, 30)).players == 2
    assert await asyncio.wait_for(stalled_answer, 30) == (1, 0)


async def _promptly(call: Awaitable[T], what: str) -> T:
    """The call's result, failing the test unless it came within `PROMPT_S`."""
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(call, 15)
    except TimeoutError:
        pytest.fail(f"{what} on another master waited more than 15 s behind the stopped one")
    took = time.monotonic() - started
    assert took < PROMPT_S, f"{what} on another master waited {took:.1f} s behind the stopped one"
    return result


QUIZ = Quiz("t", (Question("q0", ("a", "b"), 0, 10_000),))


async def _running_question(store: GameStore, pin: str) -> None:
    """A new game at `pin` with player p0 joined and its first question open."""
    await store.redis.delete(GameKeys(pin).meta)
    assert await store.create_game(pin, QUIZ, token_digest("host"), 1_000)
    await _join(store, pin, "p0")
    record = await store.load(pin)
    assert record is not None
    started, _ = transition(record.state, Start(), 5_000)
    assert await store.commit(pin, record.state, started, None)


async def _join(store: GameStore, pin: str, player: str) -> GameRecord:
    return await store.join(pin, name=player, name_key=player, player_id=player, token=player, max_players=10)


def _node(cluster: LocalCluster, port: int) -> ClusterNode:
    return next(node for node in cluster.nodes if node.port == port)
