"""The Telegram lease (transports/telegram/leader.py) on a real Redis: one process drives the
bot, and a process that takes the lease but cannot start driving it gives the lease back
instead of holding it silent (before, it kept renewing it and never polled again)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import cast

import pytest
from redis.asyncio import Redis

from transports.telegram.bridge import TelegramBridge
from transports.telegram.leader import Leadership
from transports.telegram.shared import SharedState

LEASE_MS = 2000


class BridgeStandIn:
    """What `Leadership` uses of the bridge: the `leading` flag and `reconcile`."""

    def __init__(self) -> None:
        self.leading = False
        self.reconciled = 0

    async def reconcile(self) -> None:
        self.reconciled += 1


class Process:
    """One process's leadership, with a `lead` that fails the first `failures` times."""

    def __init__(self, redis: Redis, bot_id: str, failures: int = 0) -> None:
        self.shared = SharedState(redis, bot_id)
        self.bridge = BridgeStandIn()
        self.failures, self.leads, self.follows = failures, 0, 0
        self.leadership = Leadership(
            self.shared, cast(TelegramBridge, self.bridge), lease_ms=LEASE_MS,
            lead=self._lead, follow=self._follow, feed=lambda update, at_ms: None, webhook=False,
        )

    async def _lead(self) -> None:
        self.leads += 1
        if self.leads <= self.failures:
            raise ConnectionError("Telegram unreachable")

    async def _follow(self) -> None:
        self.follows += 1


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def bot() -> str:
    return str(secrets.randbelow(10**9))


async def holder(redis: Redis, process: Process) -> bytes | None:
    value = await redis.get(process.shared.prefix + "leader")
    return None if value is None else bytes(value)


async def test_one_of_two_processes_drives_the_bot(redis: Redis) -> None:
    bot_id = bot()
    first, second = Process(redis, bot_id), Process(redis, bot_id)
    for _ in range(3):
        await first.leadership.beat()
        await second.leadership.beat()
    assert (first.bridge.leading, second.bridge.leading) == (True, False)
    assert (first.leads, second.leads) == (1, 0)
    assert first.bridge.reconciled == 3
    assert await holder(redis, first) == first.shared.owner.encode()
    await first.leadership.resign()


async def test_a_process_that_cannot_start_driving_the_bot_gives_the_lease_back(redis: Redis) -> None:
    bot_id = bot()
    failing = Process(redis, bot_id, failures=1)
    await failing.leadership.beat()
    assert failing.leads == 1
    assert not failing.bridge.leading, "it does not claim to drive a bot it could not start"
    assert failing.follows == 1, "whatever it had started is stopped"
    assert await holder(redis, failing) is None, "the lease is free for any process at its next beat"
    assert failing.bridge.reconciled == 0

    other = Process(redis, bot_id)
    await other.leadership.beat()
    assert other.bridge.leading and other.leads == 1
    await other.leadership.resign()

    await failing.leadership.beat()  # the failing one tries again when the lease is free
    assert failing.bridge.leading and failing.leads == 2
    assert await holder(redis, failing) == failing.shared.owner.encode()
    await failing.leadership.resign()
