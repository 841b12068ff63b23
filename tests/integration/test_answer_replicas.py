"""`LIVEQUIZ_ANSWER_REPLICAS`: an answer batch is acknowledged only once that many replicas
have it (`WAIT` on the connection that wrote it, `store.batcher.ReplicaWait`), on the local
cluster (one replica per master) and on one Redis (no replica at all)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from gameserver.keys import GameKeys
from gameserver.quizzes import Question, Quiz
from gameserver.redis_client import RedisClient, close_redis, open_redis
from gameserver.store import GameStore, token_digest
from gameserver.store.batcher import ReplicaWait
from statemachine import Start, transition
from statemachine.errors import ServerError

QUIZ = Quiz("t", (Question("q0", ("a", "b"), 0, 10_000),))


@pytest.fixture
async def cluster_client(cluster_url: str) -> AsyncIterator[RedisClient]:
    client = open_redis(cluster_url, 8)
    yield client
    await close_redis(client)


@pytest.fixture
async def single_client(redis_url: str) -> AsyncIterator[RedisClient]:
    client = open_redis(redis_url, 8)
    yield client
    await close_redis(client)


async def running_question(store: GameStore, players: int) -> str:
    """A new game (random PIN) with its first question open and `players` joined."""
    pin = str(secrets.randbelow(900_000) + 100_000)
    await store.redis.delete(GameKeys(pin).meta)
    assert await store.create_game(pin, QUIZ, token_digest("host"), 1_000)
    record = await store.load(pin)
    assert record is not None
    for i in range(players):
        await store.join(pin, name=f"P{i}", name_key=f"p{i}", player_id=f"p{i}", token=f"t{i}", max_players=10)
    started, _ = transition(record.state, Start(), 5_000)
    assert await store.commit(pin, record.state, started, None)
    return pin


async def test_answers_are_acknowledged_once_a_replica_has_them(cluster_client: RedisClient) -> None:
    store = GameStore(cluster_client, game_ttl_s=600, results_ttl_s=900, replica_wait=ReplicaWait(1, 2_000))
    pin = await running_question(store, 3)
    for i in range(3):
        assert await store.answer_soon(pin, f"p{i}", 0, 1, 5_100) == (i + 1, 0)


async def test_answers_that_too_few_replicas_confirm_are_not_acknowledged(cluster_client: RedisClient) -> None:
    """Two replicas asked of a master that has one: a server error, though the master kept it."""
    store = GameStore(cluster_client, game_ttl_s=600, results_ttl_s=900, replica_wait=ReplicaWait(2, 50))
    pin = await running_question(store, 1)
    with pytest.raises(ServerError, match="1 of 2 replicas"):
        await store.answer_soon(pin, "p0", 0, 1, 5_100)
    assert set(await store.answers(pin, 0)) == {"p0"}  # a retry is told already_answered


async def test_on_one_redis_without_replicas_answers_are_not_acknowledged(single_client: RedisClient) -> None:
    store = GameStore(single_client, game_ttl_s=600, results_ttl_s=900, replica_wait=ReplicaWait(1, 20))
    pin = await running_question(store, 1)
    with pytest.raises(ServerError, match="0 of 1 replicas"):
        await store.answer_soon(pin, "p0", 0, 1, 5_100)
