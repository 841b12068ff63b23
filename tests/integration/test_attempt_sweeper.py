"""The deadline sweeper (gameserver/platform/attempt_sweeper.py): an attempt nobody touches
after its deadline is finished by the server itself, against a real server process, a real
Redis, and SQLite and PostgreSQL; and one process a round takes the database's lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlmodel import col

from gameserver.platform.attempt_sweeper import AttemptSweeper
from gameserver.redis_client import close_redis, open_redis
from persistence.db import Database
from persistence.exams.models import Attempt
from persistence.types import utcnow
from tests.persistence.exam_bodies import mixed_exam
from tests.platform_support import make_account, platform_server
from tests.sql_support import SqlTarget

SWEEP_MS = 200


async def test_an_attempt_left_alone_past_its_deadline_is_finished(
    sql_target: SqlTarget, tmp_path: Path, redis_url: str
) -> None:
    env = {"LIVEQUIZ_ATTEMPT_SWEEP_INTERVAL_MS": str(SWEEP_MS)}
    with platform_server(sql_target, tmp_path / "server", redis_url, env) as server:
        owner, taker = await make_account(sql_target, "sweepowner"), await make_account(sql_target, "sweeptaker")
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            exam = (await http.post("/api/exams", json=mixed_exam(time_limit_s=600), headers=owner.headers)).json()
            started = await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"},
                                      headers=taker.headers)
            attempt_id = started.json()["id"]
            answered = await http.put(f"/api/attempts/{attempt_id}/answers/0", json={"option": 1},
                                      headers=taker.headers)
            assert answered.status_code == 204
        db = Database(sql_target.url, schema=sql_target.schema)
        try:
            async with db.transaction() as session:  # the clock passes the deadline
                await session.exec(update(Attempt).where(col(Attempt.id) == attempt_id)
                                   .values(deadline=utcnow() - timedelta(seconds=1)))
            # Nobody touches it through the API (that alone would finish it): only the database
            # is read, until the server has finished it by itself.
            loop = asyncio.get_running_loop()
            give_up = loop.time() + 30  # many sweeps on a busy box; one is enough
            while True:
                async with db.session() as session:
                    attempt = await session.get(Attempt, attempt_id)
                assert attempt is not None
                if attempt.state == "finished" or loop.time() > give_up:
                    break
                await asyncio.sleep(0.1)
        finally:
            await db.dispose()
        assert attempt.state == "finished", "the server did not finish the overdue attempt"
        assert attempt.ended_by == "deadline"
        assert (attempt.score, attempt.max_score) == (2, 5)  # question 0 and the free question, of 5
        assert attempt.open_key is None  # a new attempt may start


async def test_one_process_a_round_sweeps_a_database(sql_target: SqlTarget, engine_url: str) -> None:
    """On one Redis and on a Redis Cluster; each sweeper with a client of its own, as two
    processes have."""
    db = Database(sql_target.url, schema=sql_target.schema)
    await db.upgrade()
    redis, other = open_redis(engine_url, 4), open_redis(engine_url, 4)
    try:
        first, second = AttemptSweeper(redis, db, interval_s=5), AttemptSweeper(other, db, interval_s=5)
        await redis.delete(first.lease_key)
        assert first.lease_key == second.lease_key
        assert await first.run_once() == 0  # nothing overdue, but this round was its
        assert await second.run_once() is None  # the lease is held: it skips the round
        other_db = Database(sql_target.url + "-other", schema="elsewhere")
        assert AttemptSweeper(redis, other_db, interval_s=5).lease_key != first.lease_key
        await other_db.dispose()
        await redis.delete(first.lease_key)  # the lease lapsed: the next round is anyone's
        assert await second.run_once() == 0
    finally:
        await redis.delete(first.lease_key)
        await close_redis(redis)
        await close_redis(other)
        await db.dispose()
