"""Group results in SQL: stored exactly once per game, read back in rank order, listed per
host and per player, and forgotten by name (never by row) when an account is deleted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from persistence.accounts.models import User
from persistence.db import Database
from persistence.results import store
from persistence.results.models import PlayerResult
from persistence.results.store import DELETED_USER, FinishedGame, ResultLine, record_game

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def game(key: str = "123456:1", pin: str = "123456", lines: int = 3, **extra: object) -> FinishedGame:
    return FinishedGame(
        game_key=key, pin=pin, title="Capitals", host_digest="d" * 64, question_count=5,
        finished_at=extra.pop("finished_at", T0),  # type: ignore[arg-type]
        lines=[ResultLine(i + 1, f"p{i}", 1000 - i, 5, 5 - i % 5, extra.get("user_of", {}).get(i))  # type: ignore[attr-defined]
               for i in range(lines)],
        host_user_id=extra.get("host"),  # type: ignore[arg-type]
    )


async def make_user(db: Database, username: str) -> int:
    async with db.transaction() as session:
        user = User(username=username, first_name=username)
        session.add(user)
        await session.flush()
        assert user.id is not None
        return user.id


async def player_rows(db: Database) -> int:
    async with db.session() as session:
        return len((await session.exec(select(PlayerResult))).all())


async def test_a_game_is_stored_once_and_read_back_in_rank_order(database: Database) -> None:
    assert await record_game(database, game(lines=4)) is True
    assert await record_game(database, game(lines=4)) is False  # a re-run writes nothing twice
    assert await store.count_games(database) == 1
    assert await player_rows(database) == 4
    found = await store.latest_for_pin(database, "123456")
    assert found is not None
    stored, lines = found
    assert (stored.title, stored.player_count, stored.question_count) == ("Capitals", 4, 5)
    assert stored.finished_at == T0
    assert [line.public() for line in lines] == [
        {"rank": i + 1, "name": f"p{i}", "score": 1000 - i, "answers": 5, "correct": 5 - i} for i in range(4)
    ]


async def test_two_writers_of_one_game_store_it_once(database: Database, sql_target: object) -> None:
    other = Database(database.url, schema=database.schema)
    try:
        outcomes = await asyncio.gather(
            record_game(database, game(lines=500)), record_game(other, game(lines=500)), return_exceptions=True
        )
    finally:
        await other.dispose()
    assert sorted(outcomes, key=str) == [False, True]
    assert await store.count_games(database) == 1
    assert await player_rows(database) == 500


async def test_a_reused_pin_keeps_both_games_and_answers_with_the_newest(database: Database) -> None:
    await record_game(database, game("123456:1", finished_at=T0))
    await record_game(database, game("123456:2", lines=1, finished_at=T0 + timedelta(days=2)))
    found = await store.latest_for_pin(database, "123456")
    assert found is not None and found[0].game_key == "123456:2" and len(found[1]) == 1
    assert await store.latest_for_pin(database, "654321") is None


async def test_hosted_and_played_games_are_listed_newest_first_in_pages(database: Database) -> None:
    host = await make_user(database, "teacher")
    pupil = await make_user(database, "pupil")
    for n in range(5):
        await record_game(database, game(f"12345{n}:{n}", pin=f"12345{n}", host=host, user_of={n % 3: pupil},
                                         finished_at=T0 + timedelta(minutes=n)))
    first = await store.hosted_by(database, host, limit=2, before_id=None)
    assert [g.pin for g, _ in first] == ["123454", "123453"]
    rest = await store.hosted_by(database, host, limit=10, before_id=first[-1][0].id)
    assert [g.pin for g, _ in rest] == ["123452", "123451", "123450"]
    assert all(len(lines) == 3 for _, lines in first + rest)
    assert await store.hosted_by(database, pupil, limit=10, before_id=None) == []

    played = await store.played_by(database, pupil, limit=10, before_id=None)
    assert [(p.pin, p.rank) for p in played] == [("123454", 2), ("123453", 1), ("123452", 3), ("123451", 2),
                                                 ("123450", 1)]
    page = await store.played_by(database, pupil, limit=2, before_id=played[1].id)
    assert [p.pin for p in page] == ["123452", "123451"]


async def test_a_deleted_account_stays_in_results_as_deleted_user(database: Database) -> None:
    pupil = await make_user(database, "pupil")
    await record_game(database, game(user_of={1: pupil}))
    async with database.transaction() as session:
        await store.forget_player(session, pupil)
    found = await store.latest_for_pin(database, "123456")
    assert found is not None
    assert [line.name for line in found[1]] == ["p0", DELETED_USER, "p2"]
    assert [line.score for line in found[1]] == [1000, 999, 998]  # the line stays, only the name goes
