"""The Redis game store's atomic guarantees, on the real engine(s).

Run against the private Valkey always, and also against LIVEQUIZ_TEST_REDIS_URL (the
machine's Redis in CI) when it is set: one shared suite for every engine we support.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

import orjson
import pytest
from redis.asyncio import Redis

from gameserver import envelopes
from gameserver.envelopes import Message, Messages, PlayerKicked, PlayersJoined
from gameserver.hub import Hub
from gameserver.keys import DueSets, GameKeys
from gameserver.publications import RecentPublications
from gameserver.quizzes import Question, Quiz
from gameserver.store import GameRecord, GameStore, token_digest
from gameserver.store.records import all_totals_from, answers_from
from scoring import Answer, Totals
from statemachine import End, Event, GameState, Phase, QuestionScored, Start, transition
from statemachine.errors import (
    AlreadyAnswered,
    GameFull,
    Locked,
    NameTaken,
    NotActive,
    ServerError,
    TooLate,
    UnknownGame,
    WrongQuestion,
)

QUIZ = Quiz("t", (Question("q0", ("a", "b"), 0, 10_000), Question("q1", ("a", "b"), 1, 10_000)))
ENGINES = ["embedded", "configured"]


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[GameStore]:
    if request.param == "embedded":
        url = request.getfixturevalue("embedded_redis_url")
    else:
        url = os.environ.get("LIVEQUIZ_TEST_REDIS_URL", "")
        if not url:
            pytest.skip("LIVEQUIZ_TEST_REDIS_URL is not set (CI sets it to the machine's Redis)")
    redis = Redis.from_url(url)
    yield GameStore(redis, game_ttl_s=600, results_ttl_s=900)
    await redis.aclose()


def plain(store: GameStore) -> Redis:
    """The store's client, as the one Redis the `store` fixture gives it."""
    assert isinstance(store.redis, Redis)
    return store.redis


async def new_game(store: GameStore, pin: str) -> GameState:
    await store.redis.delete(*GameKeys(pin).all_keys(len(QUIZ.questions)))
    assert await store.create_game(pin, QUIZ, token_digest("host"), 1_000)
    record = await store.load(pin)
    assert record is not None
    return record.state


async def test_pin_is_not_reused_while_the_game_or_its_results_exist(store: GameStore) -> None:
    state = await new_game(store, "424242")
    assert not await store.create_game("424242", QUIZ, token_digest("other"), 2_000)
    finished, _ = transition(state, End(), 3_000)
    assert await store.commit("424242", state, finished, None)
    assert await store.finish("424242", 2, Messages(()))
    assert not await store.create_game("424242", QUIZ, token_digest("other"), 4_000)
    ttl = await store.redis.ttl(GameKeys("424242").meta)
    assert 800 < ttl <= 900  # kept for results_ttl_s, then the PIN is free again


async def test_commit_is_compare_and_set(store: GameStore) -> None:
    state = await new_game(store, "424243")
    started, _ = transition(state, Start(), 5_000)
    assert await store.commit("424243", state, started, None)
    assert not await store.commit("424243", state, started, None)  # stale version loses
    record = await store.load("424243")
    assert record is not None and record.state == started


async def test_answers_first_wins_and_guards(store: GameStore) -> None:
    state = await new_game(store, "424244")
    await store.join("424244", name="Ann", name_key="ann", player_id="p1", token="tok", max_players=10)
    with pytest.raises(NameTaken):
        await store.join("424244", name="ANN", name_key="ann", player_id="p2", token="tok2", max_players=10)
    with pytest.raises(NotActive):
        await store.answer_soon("424244", "p1", 0, 1, 5_100)
    started, _ = transition(state, Start(), 5_000)
    await store.commit("424244", state, started, None)
    with pytest.raises(WrongQuestion):
        await store.answer_soon("424244", "p1", 1, 1, 5_100)
    with pytest.raises(TooLate):
        await store.answer_soon("424244", "p1", 0, 1, started.deadline_ms + 1)
    assert await store.answer_soon("424244", "p1", 0, 1, 5_100) == (1, 0)
    with pytest.raises(AlreadyAnswered):
        await store.answer_soon("424244", "p1", 0, 0, 5_200)
    answers = await store.answers("424244", 0)
    assert answers["p1"].option == 1 and answers["p1"].received_ms == 5_100
    assert await store.player_for_token("424244", "tok") == "p1"


async def test_scores_apply_exactly_once(store: GameStore) -> None:
    state = await new_game(store, "424245")
    started, _ = transition(state, Start(), 5_000)
    await store.commit("424245", state, started, None)
    closed, _ = transition(started, End(), 6_000)
    await store.commit("424245", started, closed, None)
    update = {"p1": Totals(score=700, answers=1, correct=1, correct_time_ms=3_000)}
    scored, _ = transition(closed, QuestionScored(0), 7_000)
    assert await store.apply_scores("424245", closed, scored, update, Messages(()))
    again = {"p1": Totals(score=1_400, answers=2, correct=2, correct_time_ms=6_000)}
    assert not await store.apply_scores("424245", closed, scored, again, Messages(()))  # the version moved
    assert await store.totals("424245") == update
    record = await store.load("424245")
    assert record is not None and record.state == scored and record.state.phase is Phase.FINISHED
    assert record.state.scored_ms == 7_000


async def test_due_claims_are_leased(store: GameStore) -> None:
    # A due set of this test's own: the session's server processes sweep the real one with the
    # real time, and would claim (and drop) this test's entries.
    store.due = DueSets(f"livequiz:test-due-{os.getpid()}")
    key = store.due.keys[0]
    await store.redis.delete(key)
    await store.due_add("900001", 1_000)
    await store.due_add("900002", 10**15)
    claimed = await store.due_claim(now_ms=2_000, lease_ms=5_000)
    assert "900001" in claimed and "900002" not in claimed
    assert "900001" not in await store.due_claim(now_ms=3_000, lease_ms=5_000)  # leased
    assert "900001" in await store.due_claim(now_ms=8_000, lease_ms=5_000)  # lease ran out
    await store.redis.delete(key)


@pytest.mark.parametrize("question", [0, 1])
@pytest.mark.parametrize("offset_ms", [-5_000, -1, 0, 1, 3_000])
@pytest.mark.parametrize("phase", ["WAITING", "ACTIVE", "BETWEEN", "FINISHED"])
async def test_answer_script_refuses_what_the_pure_guard_refuses(
    store: GameStore, phase: str, offset_ms: int, question: int
) -> None:
    from statemachine import Next, check_answer

    state = await new_game(store, "424246")
    plan: dict[str, list[Event]] = {
        "WAITING": [], "ACTIVE": [Start()], "BETWEEN": [Start(), Next()], "FINISHED": [End()]
    }
    steps = plan[phase]
    for event in steps:
        new, _ = transition(state, event, 10_000)
        assert await store.commit("424246", state, new, None)
        state = new
    received = (state.deadline_ms or 20_000) + offset_ms
    try:
        check_answer(state, question, received)
        expected: type[Exception] | None = None
    except Exception as error:
        expected = type(error)
    try:
        await store.answer_soon("424246", "p1", question, 0, received)
        got: type[Exception] | None = None
    except Exception as error:
        got = type(error)
    assert got == expected


async def test_batched_answers_keep_first_answer_wins_in_arrival_order(store: GameStore) -> None:
    import asyncio

    state = await new_game(store, "424247")
    started, _ = transition(state, Start(), 5_000)
    await store.commit("424247", state, started, None)
    # 300 answers submitted in one tick travel in one batch; p7 answers twice, p8 three times.
    calls = [store.answer_soon("424247", f"p{i}", 0, i % 2, 5_000 + i) for i in range(300)]
    calls += [store.answer_soon("424247", "p7", 0, 0, 6_000), store.answer_soon("424247", "p8", 0, 1, 6_001)]
    calls += [store.answer_soon("424247", "p8", 0, 0, 6_002)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, tuple) for r in results[:300])
    assert all(isinstance(r, AlreadyAnswered) for r in results[300:])
    answers = await store.answers("424247", 0)
    assert len(answers) == 300
    assert answers["p7"].option == 1 and answers["p7"].received_ms == 5_007  # the first one
    assert answers["p8"].option == 0 and answers["p8"].received_ms == 5_008


async def test_join_returns_the_game_and_can_count_the_socket_in_the_same_step(store: GameStore) -> None:
    state = await new_game(store, "424246")
    record = await store.join(
        "424246", name="Ann", name_key="ann", player_id="p1", token="t1", max_players=10, connect=True
    )
    assert record.players == 1 and record.state == state and record.title == QUIZ.title
    assert await cast("Awaitable[bytes | None]", plain(store).hget(GameKeys("424246").connected, "p1")) == b"1"
    await store.join("424246", name="Bob", name_key="bob", player_id="p2", token="t2", max_players=10)
    socket = await cast("Awaitable[bytes | None]", plain(store).hget(GameKeys("424246").connected, "p2"))
    assert socket is None  # HTTP join: no socket yet


async def test_joins_in_one_tick_share_one_call_and_one_event(
    store: GameStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await new_game(store, "424249")
    pubsub = plain(store).pubsub()
    await pubsub.subscribe(GameKeys("424249").channel)
    calls: list[int] = []
    real_pipeline = store._joins._pipeline

    async def counting(batch: list[tuple[list[str], list[object]]]) -> list[object]:
        calls.append(len(batch))
        return await real_pipeline(batch)

    monkeypatch.setattr(store._joins, "_pipeline", counting)
    names = ["Ann", "Bob", "ann", "Cy", "Di", "Ed"]  # "ann" takes Ann's name; the cap is 4
    results = await asyncio.gather(
        *(
            store.join(
                "424249", name=n, name_key=n.lower(), player_id=f"p{i}", token=f"t{i}", max_players=4, connect=True
            )
            for i, n in enumerate(names)
        ),
        return_exceptions=True,
    )
    assert calls == [1]  # six joins, one script call
    assert [type(r).__name__ for r in results] == [
        "GameRecord",
        "GameRecord",
        "NameTaken",
        "GameRecord",
        "GameRecord",
        "GameFull",
    ]
    assert {r.players for r in results if isinstance(r, GameRecord)} == {4}  # as after the batch
    assert await store.players("424249") == {"p0": "Ann", "p1": "Bob", "p3": "Cy", "p4": "Di"}
    connected = await cast("Awaitable[dict[bytes, bytes]]", plain(store).hgetall(GameKeys("424249").connected))
    assert connected == {b"p0": b"1", b"p1": b"1", b"p3": b"1", b"p4": b"1"}  # refused joins count no socket
    event = None
    while event is None:
        event = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
    assert orjson.loads(event["data"]) == {
        "e": "join",
        "count": 4,
        "joined": [
            {"id": "p0", "name": "Ann"},
            {"id": "p1", "name": "Bob"},
            {"id": "p3", "name": "Cy"},
            {"id": "p4", "name": "Di"},
        ],
    }
    players = (("p0", "Ann"), ("p1", "Bob"), ("p3", "Cy"), ("p4", "Di"))
    assert envelopes.from_json(event["data"]) == PlayersJoined(players, 4)  # cjson's event, typed
    await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_batched_joins_are_refused_as_a_whole_by_the_game_state(store: GameStore) -> None:
    await store.redis.delete(*GameKeys("424250").all_keys(len(QUIZ.questions)))
    refused = await asyncio.gather(
        *(
            store.join("424250", name=f"n{i}", name_key=f"n{i}", player_id=f"p{i}", token=f"t{i}", max_players=10)
            for i in range(3)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(r, UnknownGame) for r in refused)
    assert await store.redis.exists(GameKeys("424250").players) == 0  # nothing written for a missing game
    await new_game(store, "424250")
    await cast("Awaitable[int]", plain(store).hset(GameKeys("424250").meta, "locked", "1"))
    with pytest.raises(Locked):
        await store.join("424250", name="Ann", name_key="ann", player_id="p1", token="t1", max_players=10)
    await cast("Awaitable[int]", plain(store).hset(GameKeys("424250").meta, "locked", "0"))
    with pytest.raises(GameFull):
        await store.join("424250", name="Ann", name_key="ann", player_id="p1", token="t1", max_players=0)


async def test_a_game_seen_to_exist_is_remembered_briefly_and_a_missing_one_never(store: GameStore) -> None:
    await store.redis.delete(*GameKeys("424251").all_keys(len(QUIZ.questions)))
    assert not await store.exists("424251")
    await new_game(store, "424251")
    assert await store.exists("424251")  # a "no" was not remembered
    await store.redis.delete(GameKeys("424251").meta)
    assert await store.exists("424251")  # a "yes" is, for EXISTS_CACHE_S ...
    with pytest.raises(UnknownGame):  # ... but the join itself still refuses a vanished game
        await store.join("424251", name="Ann", name_key="ann", player_id="p1", token="t1", max_players=10)
    store._exists_until["424251"] = 0.0  # the remembered "yes" runs out
    assert not await store.exists("424251")


async def test_concurrent_socket_opens_and_closes_are_all_counted(store: GameStore) -> None:
    await new_game(store, "424247")
    players = [f"p{i}" for i in range(50)]
    # 50 players open two sockets each and close one, all at once: batched per game.
    await asyncio.gather(*(store.connect("424247", p, +1) for p in players for _ in range(2)))
    closed = await asyncio.gather(*(store.connect("424247", p, -1) for p in players))
    assert {presence.sockets for presence in closed} == {1}
    assert {presence.phase for presence in closed} == {"WAITING"}
    left = await asyncio.gather(*(store.connect("424247", p, -1) for p in players))
    assert {presence.sockets for presence in left} == {0}
    assert await cast("Awaitable[int]", plain(store).hlen(GameKeys("424247").connected)) == 0  # none left behind


async def test_answers_of_many_games_in_one_tick_share_one_pipeline(
    store: GameStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pins = [f"4250{i:02d}" for i in range(20)]
    for pin in pins:
        state = await new_game(store, pin)
        started, _ = transition(state, Start(), 5_000)
        await store.commit(pin, state, started, None)
    batcher = store._answers
    pipelines: list[int] = []
    real_pipeline = batcher._pipeline

    async def counting(calls: list[tuple[list[str], list[object]]]) -> list[object]:
        pipelines.append(len(calls))
        return await real_pipeline(calls)

    monkeypatch.setattr(batcher, "_pipeline", counting)
    calls = [store.answer_soon(pin, f"p{i}", 0, i % 2, 5_000 + i) for pin in pins for i in range(3)]
    results = await asyncio.gather(*calls)
    assert pipelines == [20]  # one round trip: one script call per game
    assert {answered for answered, _ in results} == {3}  # counts as of the end of its batch
    for pin in pins:
        assert sorted(await store.answers(pin, 0)) == ["p0", "p1", "p2"]


async def test_batches_of_one_game_keep_order_when_split(store: GameStore, monkeypatch: pytest.MonkeyPatch) -> None:
    state = await new_game(store, "424248")
    started, _ = transition(state, Start(), 5_000)
    await store.commit("424248", state, started, None)
    # Batches of 7: the game's next batch waits for the one in flight, so a player's later
    # answers (in later batches) still lose to its first.
    monkeypatch.setattr(type(store._answers), "MAX_BATCH", 7)
    calls = [store.answer_soon("424248", f"p{i % 10}", 0, i % 2, 5_000 + i) for i in range(40)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, tuple) for r in results[:10])
    assert all(isinstance(r, AlreadyAnswered) for r in results[10:])
    answers = await store.answers("424248", 0)
    assert {p: a.received_ms for p, a in answers.items()} == {f"p{i}": 5_000 + i for i in range(10)}


async def test_answers_are_recorded_after_redis_forgot_the_scripts(store: GameStore) -> None:
    state = await new_game(store, "424249")
    started, _ = transition(state, Start(), 5_000)
    await store.commit("424249", state, started, None)
    await store.answer_soon("424249", "p1", 0, 0, 5_001)
    await store.redis.script_flush()  # as after a restart of Redis: EVALSHA now says NOSCRIPT
    assert await store.answer_soon("424249", "p2", 0, 1, 5_002) == (2, 0)
    assert sorted(await store.answers("424249", 0)) == ["p1", "p2"]


async def test_a_game_whose_script_call_fails_does_not_fail_the_others_in_its_pipeline(store: GameStore) -> None:
    healthy = await new_game(store, "424250")
    started, _ = transition(healthy, Start(), 5_000)
    await store.commit("424250", healthy, started, None)
    await store.redis.delete(GameKeys("424251").meta)
    await store.redis.set(GameKeys("424251").meta, "not a hash")  # the script errors on this game
    good, bad = await asyncio.gather(
        store.answer_soon("424250", "p1", 0, 0, 5_001),
        store.answer_soon("424251", "p1", 0, 0, 5_001),
        return_exceptions=True,
    )
    assert good == (1, 0)
    assert isinstance(bad, ServerError)
    await store.redis.delete(GameKeys("424251").meta)


def test_recent_publications_are_taken_once_bounded_and_only_when_big() -> None:
    published = RecentPublications(keep=2, min_bytes=10)
    small, big = b"x" * 9, [b"a" * 10, b"b" * 10, b"c" * 10]
    published.add(small, PlayerKicked("small", 0))
    for payload in big:
        published.add(payload, PlayerKicked(payload.decode()[0], 0))
    assert published.take(small) is None  # too small to be worth remembering
    assert published.take(big[0]) is None  # aged out: only the last two are kept
    assert published.take(bytes(big[2])) == PlayerKicked("c", 0)  # by value, not identity
    assert published.take(big[2]) is None  # once
    published.discard(big[1])
    assert published.take(big[1]) is None


async def test_the_hub_takes_its_own_big_events_without_parsing_them(
    store: GameStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin = "424251"
    state = await new_game(store, pin)
    started, _ = transition(state, Start(), 5_000)
    await store.commit(pin, state, started, None)
    closed, _ = transition(started, End(), 6_000)
    await store.commit(pin, started, closed, None)
    hub = Hub(store.redis, store, lobby_interval_ms=100, now_ms=lambda: 0)
    received: list[Any] = []
    monkeypatch.setattr(hub, "dispatch", lambda room, event: _record(received, event))
    await hub.start()
    try:
        await hub._room(pin)  # the room, subscribed to the game's channel
        you = {f"p{i}": {"answered": False, "score": 0, "rank": 1} for i in range(3_000)}  # > 64 KiB
        event = Messages((Message({"type": "reveal", "question": 0}, you=you),))
        scored, _ = transition(closed, QuestionScored(0), 7_000)
        assert not await store.apply_scores(pin, started, scored, {}, event)  # stale: nothing published
        assert store.published.take(event.to_json()) is None
        assert await store.apply_scores(pin, closed, scored, {}, event)
        other = Messages((Message({"type": "lobby"}, you=dict(you)),))
        await store.publish(pin, other)  # published by "another process": parsed
        for _ in range(200):
            if len(received) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await hub.stop()
    assert received[0] is event  # the very object: not parsed again
    assert received[1] == other and received[1] is not other  # typed from the bytes


async def _record(received: list[Any], event: Any) -> None:
    received.append(event)


def test_whole_hashes_parse_exactly_and_refuse_a_malformed_record() -> None:
    answers = {b"p1": b"2,1700000000123", b"p\xc3\xa9": b"0,5"}
    assert answers_from(answers) == {"p1": Answer(2, 1_700_000_000_123), "pé": Answer(0, 5)}
    totals = {b"p1": b"700,2,1,3000", b"p2": b"0,0,0,0"}
    assert all_totals_from(totals) == {"p1": Totals(700, 2, 1, 3_000), "p2": Totals()}
    assert answers_from({}) == {} and all_totals_from({}) == {}
    for bad in ({b"p1": b"2,1,3"}, {b"p1": b"2"}, {b"p1": b"x,1"}, {b"p1": b"1,", b"p2": b"1,2"}):
        with pytest.raises(ServerError):
            answers_from(bad)
    with pytest.raises(ServerError):  # fields shifted between two records must not be misread
        all_totals_from({b"p1": b"1,2,3", b"p2": b"4,5,6,7,8"})
