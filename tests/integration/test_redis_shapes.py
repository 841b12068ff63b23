"""The platform's and the Telegram bridge's shared state behaves the same on one Redis and on a
Redis Cluster (`engine_url`: the session's Redis, then its 3-master cluster). Each "process" is
a client of its own, as two server processes have: per-address limits counted together, the
Telegram lease held by one, a chat claimed by one of two racing attaches and forgotten with its
seats and posts in one step, the exams bot's ticks and answer claims, and the Speaking room's
channel carrying a message published in a transaction with the room's keys (sharded pub/sub on
the cluster)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest

from gameserver.atomic import AtomicBatch
from gameserver.iplimits import Budget, IpLimits, IpRateLimited
from gameserver.platform import speaking_channel
from gameserver.platform.exams_bot_keyboard import BotState, ticks, toggle
from gameserver.platform.speaking_keys import RoomKeys, revoke
from gameserver.redis_client import RedisClient, close_redis, open_redis
from gameserver.settings import Settings
from persistence.speaking.models import SpeakingSlot
from transports.telegram.shared import ChatRecord, SharedState


@pytest.fixture
async def two(engine_url: str) -> AsyncIterator[tuple[RedisClient, RedisClient]]:
    """Two processes' clients of one engine."""
    first, second = open_redis(engine_url, 8), open_redis(engine_url, 8)
    yield first, second
    await close_redis(first)
    await close_redis(second)


async def test_an_address_budget_is_counted_across_processes(two: tuple[RedisClient, RedisClient]) -> None:
    limits = [IpLimits(client, Settings()) for client in two]
    budget, ip = Budget("join", 5, 60), f"203.0.113.{secrets.randbelow(250)}-{secrets.token_hex(3)}"
    for i in range(5):
        await limits[i % 2].charge(budget, ip)
    for process in limits:
        with pytest.raises(IpRateLimited) as refused:
            await process.charge(budget, ip)
        assert 1 <= refused.value.retry_after_s <= 60
    await limits[0].charge(budget, ip + "-another")  # another address is not affected


async def test_one_process_holds_the_telegram_lease_until_it_resigns(two: tuple[RedisClient, RedisClient]) -> None:
    bot = f"test{secrets.token_hex(4)}"
    first, second = (SharedState(client, bot) for client in two)
    assert await first.lead(5_000)
    assert not await second.lead(5_000)
    assert await first.lead(5_000)  # renewed
    await second.resign()  # not its lease: nothing happens
    assert not await second.lead(5_000)
    await first.resign()
    assert await second.lead(5_000)
    await second.resign()


async def test_of_two_attaches_to_one_chat_one_wins_and_drop_forgets_its_seats(
    two: tuple[RedisClient, RedisClient],
) -> None:
    bot, chat = f"test{secrets.token_hex(4)}", -1001
    first, second = (SharedState(client, bot) for client in two)
    won = await asyncio.gather(
        first.claim_chat(chat, ChatRecord("111111", "inline", "a"), None),
        second.claim_chat(chat, ChatRecord("222222", "inline", "b"), None),
    )
    assert sorted(won) == [False, True]
    winner = "a" if won[0] else "b"
    assert (await second.chat(chat)) == (await first.chat(chat))
    await first.save_seat(chat, 7, {"player_id": "p7", "token": "t", "name": "Ann"})
    await first.save_post(chat, 0, 42, "poll-1")
    assert await second.seats(chat) == {7: {"player_id": "p7", "token": "t", "name": "Ann"}}
    await second.drop_chat(chat, "not-" + winner)  # another attachment's tag: kept
    assert await first.chat(chat) is not None
    await second.drop_chat(chat, winner)  # record, seats and posts in one step
    assert await first.chat(chat) is None
    assert await first.seats(chat) == {} and await first.posts(chat) == {}


async def test_the_exams_bot_ticks_and_claims_are_shared(two: tuple[RedisClient, RedisClient]) -> None:
    where = f"sqlite:///{secrets.token_hex(4)}"
    first, second = (BotState.of(client, where, None) for client in two)
    await toggle(first, 5, 2, 0)
    await toggle(second, 5, 2, 3)
    await toggle(first, 5, 2, 3)  # ticked twice: unticked
    assert await ticks(second, 5, 2) == {0}
    claim = first.claim_key(5, 2)
    assert await first.redis.set(claim, "1", nx=True, ex=30)
    assert not await second.redis.set(claim, "1", nx=True, ex=30)  # the racing answer finds it taken
    await first.redis.delete(claim, first.ticks_key(5, 2))


async def test_the_speaking_rooms_channel_carries_a_transactions_message_and_a_revoke(
    two: tuple[RedisClient, RedisClient],
) -> None:
    publisher, listener = two
    slot = SpeakingSlot(id=secrets.randbelow(10**9), exam_id=1, grader_id=1, starts_at=datetime.now(UTC),
                        ends_at=datetime.now(UTC), created_at=datetime.now(UTC))
    keys = RoomKeys(slot)
    subscription = await speaking_channel.subscribe(listener, keys.channel)
    try:
        received = subscription.messages()
        batch = AtomicBatch(publisher, [keys.chat])  # one slot: the room's hash tag
        batch.rpush(keys.chat, b'{"type": "chat"}')
        batch.expire(keys.chat, 60)
        batch.announce(keys.channel, b'{"type": "chat", "text": "hi"}')
        await batch.execute()
        assert orjson.loads(await asyncio.wait_for(anext(received), 5)) == {"type": "chat", "text": "hi"}
        await revoke(publisher, slot, ("candidate",), "the booking was cancelled")
        message = orjson.loads(await asyncio.wait_for(anext(received), 5))
        assert message == {"type": "revoke", "roles": ["candidate"], "reason": "the booking was cancelled"}
        assert await listener.exists(keys.chat) == 0  # the revoke wiped the chat in the same step
    finally:
        await subscription.close()
