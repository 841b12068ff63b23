"""A process's quiz cache is bounded and keyed by the game, not its PIN (issue 15 item 4):
a PIN handed to a new game never shows the old game's questions. Real Redis, real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from gameserver.keys import GameKeys
from gameserver.quizcache import QuizCache
from gameserver.quizzes import Question, Quiz
from gameserver.store import GameStore, token_digest
from tests.support import ServerProcess, create_game, host, player, quiz


def one_question(text: str) -> Quiz:
    return Quiz("t", (Question(text, ("a", "b", "c"), 1, 20_000),))


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[GameStore]:
    redis = Redis.from_url(redis_url)
    yield GameStore(redis, game_ttl_s=600, results_ttl_s=900)
    await redis.aclose()


async def test_a_reused_pin_shows_the_new_games_questions(server: ServerProcess, store: GameStore) -> None:
    old = await create_game(server.base_url, quiz(n=1) | {"title": "Old"})  # the server keeps its quiz
    pin = old["pin"]
    # The old game's keys expire (as after its results were kept long enough) and another
    # process creates a new game on the same PIN.
    await store.redis.delete(*GameKeys(pin).all_keys(1))
    assert await store.create_game(pin, one_question("The NEW question?"), token_digest("new-host"), 1)
    the_host = await host(server.ws_url, {"pin": pin, "host_token": "new-host"})
    ada, _ = await player(server.ws_url, pin, "Ada")
    await the_host.send({"type": "start"})
    shown = await ada.recv("question")
    assert shown["text"] == "The NEW question?" and shown["options"] == ["a", "b", "c"]
    await ada.send({"type": "answer", "question": 0, "option": 1})
    await ada.recv("answer_ack")
    reveal = await ada.recv("reveal")  # scored with the new answer key
    assert reveal["correct"] == 1 and reveal["you"]["correct"] is True
    for client in (the_host, ada):
        await client.close()
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.base_url}/api/games/{pin}")).json()["title"] == "t"


async def test_the_quiz_cache_stays_within_its_bound_and_reloads_what_it_dropped(store: GameStore) -> None:
    size = len(one_question("Question number 00?").to_json())
    store._quizzes = QuizCache(max_bytes=5 * size, max_games=100)
    pins = [f"4263{i:02d}" for i in range(30)]
    for i, pin in enumerate(pins):
        await store.redis.delete(*GameKeys(pin).all_keys(1))
        assert await store.create_game(pin, one_question(f"Question number {i:02d}?"), token_digest("h"), 1)
    assert len(store._quizzes) == 5 and store._quizzes.bytes <= 5 * size
    assert store.cached_quiz(pins[0]) is None  # the oldest went first
    record = await store.load(pins[0])
    assert record is not None and record.game_id
    reloaded = await store.quiz(pins[0], record.game_id)
    assert reloaded.questions[0].text == "Question number 00?"
    assert store.cached_quiz(pins[0]) is reloaded
    assert len(store._quizzes) == 5


def test_a_new_game_seen_at_a_pin_drops_the_old_games_quiz() -> None:
    cache = QuizCache(max_bytes=1_000, max_games=10)
    cache.put("111111", "g1", one_question("old"), 100)
    assert cache.get("111111") is not None and cache.get("111111", "g2") is None
    cache.seen("111111", "g1")
    assert cache.get("111111") is not None
    cache.seen("111111", "g2")  # a record of another game at that PIN
    assert cache.get("111111") is None and cache.get("111111", "g1") is None and cache.bytes == 0
    for i in range(20):
        cache.put(f"2000{i:02d}", "g", one_question(str(i)), 10)
    assert len(cache) == 10 and cache.bytes == 100
