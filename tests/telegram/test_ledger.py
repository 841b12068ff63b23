"""A group's spent budget outlives the process that spent it (transports/telegram/ledger.py),
against real Redis: a new outbox for the chat in another "process" (another SharedState, as
a new leader has) keeps to what the first one spent in the window, counts a request the first
one left in flight, and honours its 429 pause."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from gameserver.redis_client import RedisClient
from transports.telegram.budget import RollingBudget
from transports.telegram.outbox import Op, Outbox, Outgoing, Priority
from transports.telegram.shared import SharedState

CHAT = -100777
LIMIT, WINDOW_S = 5, 1.5


@pytest.fixture
def redis(engine: RedisClient) -> RedisClient:
    """One Redis, then a Redis Cluster (`engine`): a bot's keys share one slot there."""
    return engine


def two_processes(redis: RedisClient) -> tuple[SharedState, SharedState]:
    bot = f"test{secrets.token_hex(4)}"  # keys of their own
    return SharedState(redis, bot), SharedState(redis, bot)


def outbox(shared: SharedState) -> Outbox:
    return Outbox(CHAT, RollingBudget(LIMIT, WINDOW_S), ledger=shared.ledger(CHAT, WINDOW_S))


async def send(box: Outbox, count: int) -> list[float]:
    """`count` urgent operations through the outbox; when each request started (monotonic)."""
    started: list[float] = []

    async def call() -> None:
        started.append(time.monotonic())

    async def render() -> Outgoing:
        return Outgoing(call=call)

    for _ in range(count):
        box.put(Op(Priority.URGENT, render))
    await asyncio.wait_for(box.idle(), 10)
    return started


async def test_a_new_leader_keeps_to_what_the_old_one_spent(redis: RedisClient) -> None:
    old, new = two_processes(redis)
    first = outbox(old)
    spent = await send(first, LIMIT - 1)  # all but one slot of the window
    await first.close()
    assert spent[-1] - spent[0] < 0.5

    second = outbox(new)
    carried_on = await send(second, 2)
    await second.close()
    # one slot was left; the next waits until the old operations leave the window
    assert carried_on[0] - spent[-1] < 0.5
    assert carried_on[1] - spent[0] >= WINDOW_S - 0.05


async def test_a_request_left_in_flight_counts_and_a_pause_holds(redis: RedisClient) -> None:
    old, new = two_processes(redis)
    dying = old.ledger(CHAT, WINDOW_S)
    for _ in range(LIMIT):
        assert await dying.began(urgent=True) is not None  # the process dies before any answer
    recalled = await new.ledger(CHAT, WINDOW_S).recall()
    assert len(recalled.ended) == LIMIT and all(abs(at - time.time()) < 0.5 for at, _ in recalled.ended)
    assert all(urgent for _, urgent in recalled.ended)

    box = outbox(new)
    began = time.monotonic()
    sent = await send(box, 1)
    await box.close()
    assert sent[0] - began >= WINDOW_S - 0.1  # the dead process's requests held the window

    other, later = two_processes(redis)
    await other.ledger(CHAT, WINDOW_S).paused(time.time() + 1.0)  # a 429 said: wait a second
    box = outbox(later)
    began = time.monotonic()
    sent = await send(box, 1)
    await box.close()
    assert sent[0] - began >= 0.9
