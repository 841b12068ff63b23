"""Solo attempts on SQLite and PostgreSQL: scoring, one attempt in progress per person and
exam (also when two starts race), the server's deadline, proctoring events."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from persistence import blobs
from persistence.blobs import LocalBlobStore
from persistence.db import Database
from persistence.exams import attempts, bank, proctoring
from persistence.exams.attempts import AttemptError, Taker
from persistence.exams.models import Attempt
from persistence.exams.scoring import is_correct, score_attempt
from persistence.types import utcnow
from tests.persistence.exam_bodies import mixed_exam
from tests.persistence.test_exams_bank import new_user

ALL_RIGHT: dict[int, dict[str, Any]] = {
    0: {"option": 1},
    1: {"options": [3, 1, 0]},
    2: {"text": "  pARIS "},
    4: {"option": 0},
}


def test_scoring_rules() -> None:
    questions = bank.parse_exam(mixed_exam()).model_dump()["questions"]  # type: ignore[attr-defined]
    assert score_attempt(questions, range(5), ALL_RIGHT, 60).public() == {
        "score": 5,
        "max": 5,
        "percent": 100.0,
        "passed": True,
    }
    # select_many counts only when exactly right; free counts whatever was (not) sent.
    assert not is_correct(questions[1], {"options": [0, 1]})
    assert not is_correct(questions[1], {"options": [0, 1, 2, 3]})
    assert is_correct(questions[3], None)
    assert not is_correct(questions[2], {"text": "Pariss"})
    two = score_attempt(questions, range(5), {0: {"option": 0}, 2: {"text": "paris"}}, 40)
    assert two.public() == {"score": 2, "max": 5, "percent": 40.0, "passed": True}
    assert not score_attempt(questions, range(5), {}, 40).passed


async def started(database: Database, **settings: object) -> tuple[int, Taker, int]:
    owner = await new_user(database, "owner")
    taker_id = await new_user(database, "taker")
    exam = await bank.create(database, owner, mixed_exam(**settings))
    assert exam.id is not None
    run = await attempts.start(database, exam, Taker(taker_id), "web")
    assert run.attempt.id is not None
    return exam.id, Taker(taker_id), run.attempt.id


async def test_start_answer_finish_scores_what_was_answered(database: Database) -> None:
    exam_id, taker, attempt_id = await started(database, pass_percent=70)
    exam = await bank.get(database, exam_id)
    assert exam is not None
    for n, body in ALL_RIGHT.items():
        await attempts.answer(database, attempt_id, taker, n, body)
    await attempts.answer(database, attempt_id, taker, 0, {"option": 2})  # changed: now wrong
    with pytest.raises(AttemptError) as bad:
        await attempts.answer(database, attempt_id, taker, 1, {"option": 1})
    assert (bad.value.status, bad.value.code) == (422, "invalid")
    with pytest.raises(AttemptError) as missing:
        await attempts.answer(database, attempt_id, taker, 9, {"option": 1})
    assert missing.value.status == 422
    with pytest.raises(AttemptError) as stranger:
        await attempts.answer(database, attempt_id, Taker(999), 0, {"option": 1})
    assert stranger.value.status == 404
    done = await attempts.finish(database, attempt_id, taker)
    assert (done.score, done.max_score, done.percent, done.passed, done.state) == (4, 5, 80.0, True, "finished")
    again = await attempts.finish(database, attempt_id, taker)
    assert again.score == 4
    with pytest.raises(AttemptError) as closed:
        await attempts.answer(database, attempt_id, taker, 0, {"option": 1})
    assert (closed.value.status, closed.value.code) == (409, "attempt_closed")


async def test_one_attempt_in_progress_per_person_and_exam(database: Database) -> None:
    exam_id, taker, attempt_id = await started(database)
    exam = await bank.get(database, exam_id)
    assert exam is not None
    with pytest.raises(AttemptError) as second:
        await attempts.start(database, exam, taker, "web")
    assert (second.value.status, second.value.code) == (409, "attempt_in_progress")
    await attempts.finish(database, attempt_id, taker)
    third = await attempts.start(database, exam, taker, "web")
    assert third.attempt.id != attempt_id


async def test_racing_starts_open_one_attempt(database: Database) -> None:
    owner, taker_id = await new_user(database, "owner"), await new_user(database, "taker")
    exam = await bank.create(database, owner, mixed_exam())
    outcomes = await asyncio.gather(
        *(attempts.start(database, exam, Taker(taker_id), "web") for _ in range(6)), return_exceptions=True
    )
    opened = [o for o in outcomes if isinstance(o, attempts.Started)]
    refused = [o for o in outcomes if isinstance(o, AttemptError)]
    assert len(opened) == 1 and len(refused) == 5, outcomes
    assert {r.code for r in refused} == {"attempt_in_progress"}


async def test_the_deadline_finishes_with_what_was_answered(database: Database) -> None:
    _, taker, attempt_id = await started(database, time_limit_s=60)
    await attempts.answer(database, attempt_id, taker, 0, {"option": 1})
    await attempts.answer(database, attempt_id, taker, 2, {"text": "paris"})
    async with database.transaction() as session:  # the clock moves past the deadline
        await session.exec(
            update(Attempt).where(col(Attempt.id) == attempt_id).values(deadline=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(AttemptError) as late:
        await attempts.answer(database, attempt_id, taker, 1, {"options": [0, 1, 3]})
    assert late.value.code == "attempt_closed"
    attempt, _ = await attempts.load(database, attempt_id)
    # 2 answered right + the free question; the late answer was not stored.
    assert (attempt.state, attempt.ended_by, attempt.score, attempt.max_score) == ("finished", "deadline", 3, 5)
    assert 1 not in await attempts.answers_of(database, attempt_id)


async def test_the_sweeper_finishes_overdue_attempts(database: Database) -> None:
    _, _, attempt_id = await started(database, time_limit_s=60)
    async with database.transaction() as session:
        await session.exec(update(Attempt).values(deadline=utcnow() - timedelta(seconds=1)))
    assert await attempts.finish_overdue(database) == 1
    attempt, _ = await attempts.load(database, attempt_id)
    assert (attempt.state, attempt.ended_by, attempt.score) == ("finished", "deadline", 1)
    assert await attempts.finish_overdue(database) == 0


async def test_leaving_fullscreen_ends_a_fullscreen_exam_with_zero(database: Database) -> None:
    _, taker, attempt_id = await started(database, proctoring={"fullscreen": True})
    for n, body in ALL_RIGHT.items():
        await attempts.answer(database, attempt_id, taker, n, body)
    outcome = await proctoring.record_event(database, attempt_id, taker, "fullscreen_exit", None)
    assert outcome == {"ended": True, "state": "finished"}
    attempt, _ = await attempts.load(database, attempt_id)
    assert (attempt.score, attempt.percent, attempt.passed, attempt.ended_by) == (0, 0.0, False, "fullscreen_exit")
    events = await proctoring.events_of(database, attempt_id)
    assert [(e.type, e.violation) for e in events] == [("fullscreen_exit", True)]
    with pytest.raises(AttemptError):
        await proctoring.record_event(database, attempt_id, taker, "snapshot", 1)


async def test_leaving_fullscreen_is_only_noted_when_not_required(database: Database) -> None:
    _, taker, attempt_id = await started(database)
    assert (await proctoring.record_event(database, attempt_id, taker, "fullscreen_exit", None))["ended"] is False
    with pytest.raises(AttemptError) as bad:
        await proctoring.record_event(database, attempt_id, taker, "teleport", None)
    assert bad.value.status == 422
    snapshot = await proctoring.record_snapshot(database, attempt_id, 2, "x.jpg")
    assert snapshot.violation is True
    assert (await proctoring.record_snapshot(database, attempt_id, 1, "y.jpg")).violation is False


async def test_a_trainer_serves_in_random_order_and_its_free_version_the_first_n(database: Database) -> None:
    owner, taker_id = await new_user(database, "owner"), await new_user(database, "taker")
    questions = [{"type": "select_one", "text": f"Q{i}", "options": ["a", "b"], "correct": 0} for i in range(30)]
    exam = await bank.create(
        database,
        owner,
        {"title": "Trainer", "mode": "trainer", "price": 5000, "free_question_limit": 10, "questions": questions},
    )
    async with database.transaction() as session:
        run = await attempts.start_in(session, exam, Taker(taker_id), "web", preview=True, rng=random.Random(7))
    served = attempts.positions(run.attempt)
    assert sorted(served) == list(range(10)) and served != list(range(10))
    assert [q["n"] for q in run.questions] == served


async def test_the_samples_ship_trainers_and_mock_exams_passing_per_module(database: Database) -> None:
    samples = {e.sample_key: e for e in await bank.listing(database, query="", limit=100) if e.sample_key}
    assert {"trainer_patent_russian", "mock_patent_1", "mock_rvp_1", "mock_vnj_1", "mock_citizenship_1"} <= set(samples)
    thresholds = {key: samples[key].pass_percent for key in samples if key.startswith("mock_")}
    assert thresholds == {"mock_patent_1": 60, "mock_rvp_1": 70, "mock_vnj_1": 80, "mock_citizenship_1": 80}
    trainer = samples["trainer_patent_russian"]
    assert trainer.mode == "trainer" and all(q["type"] != "free" for q in bank.questions(trainer))
    mock = samples["mock_patent_1"]
    questions = bank.questions(mock)
    modules = {q["module"] for q in questions}
    assert len(modules) == 3 and any(q["type"] == "free" for q in questions)
    # Every select_one right but those of one module: that module fails, so the exam fails.
    weak = questions[-1]["module"]
    answers = {
        n: {"option": q["correct"] if q["module"] != weak else (q["correct"] + 1) % len(q["options"])}
        for n, q in enumerate(questions)
        if q["type"] == "select_one"
    }
    result = score_attempt(questions, range(len(questions)), answers, mock.pass_percent)
    assert result.percent >= 60 and not result.passed
    assert result.modules is not None and result.modules[weak]["passed"] is False
    everything = {n: {"option": q["correct"]} for n, q in enumerate(questions) if q["type"] == "select_one"}
    full = score_attempt(questions, range(len(questions)), everything, mock.pass_percent)
    assert full.passed and full.score == len(questions)  # the oral question counts as correct


async def test_an_answer_racing_the_finish_is_counted_or_refused_never_stored_unscored(database: Database) -> None:
    owner, taker_id = await new_user(database, "owner"), await new_user(database, "taker")
    questions = [{"type": "select_one", "text": f"Q{i}", "options": ["a", "b"], "correct": 0} for i in range(24)]
    exam = await bank.create(database, owner, {"title": "Race", "questions": questions})
    for _ in range(3):
        run = await attempts.start(database, exam, Taker(taker_id), "web")
        attempt_id = run.attempt.id or 0
        calls = [attempts.answer(database, attempt_id, Taker(taker_id), n, {"option": 0}) for n in range(24)]
        calls.insert(12, attempts.finish(database, attempt_id, Taker(taker_id)))  # type: ignore[arg-type]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, AttemptError)]
        assert all(r.code == "attempt_closed" for r in refused), refused
        attempt, _ = await attempts.load(database, attempt_id)
        stored = await attempts.answers_of(database, attempt_id)
        assert attempt.score == len(stored) == 24 - len(refused)


async def test_deleting_an_account_deletes_its_snapshot_pictures(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from persistence.accounts import hooks
    from persistence.exams import account_hooks

    account_hooks.install()
    # Every area's deletion hooks imported so far in this process run (the IELTS recordings'
    # when an earlier test imported them), and those find files through the process's blob
    # store, as in a server: this test must not depend on an earlier test having left one.
    monkeypatch.setattr(blobs, "_installed", None)
    blobs.install(LocalBlobStore(tmp_path / "blobs"))
    exam_id, taker, attempt_id = await started(database, proctoring={"camera": True})
    exam = await bank.get(database, exam_id)
    assert exam is not None
    other = await attempts.start(database, exam, Taker(await new_user(database, "other")), "web")
    other_attempt = other.attempt.id or 0
    pictures = [tmp_path / "mine.jpg", tmp_path / "theirs.jpg"]
    for picture in pictures:
        picture.write_bytes(b"\xff\xd8\xff")
    await proctoring.record_snapshot(database, attempt_id, 1, str(pictures[0]))
    await proctoring.record_snapshot(database, other_attempt, 1, str(pictures[1]))
    async with database.transaction() as session:
        await hooks.run_deleted(session, taker.user_id or 0)
    assert not pictures[0].exists() and pictures[1].exists()
    assert [e.file for e in await proctoring.events_of(database, attempt_id)] == [None]
    assert [e.file for e in await proctoring.events_of(database, other_attempt)] == [str(pictures[1])]


async def test_a_start_undone_by_its_transaction_leaves_no_attempt(database: Database) -> None:
    """What a paid start relies on: a payment refused after the attempt was opened, in the same
    transaction, leaves no attempt (SQLite's driver once committed it at a savepoint's release)."""
    owner, taker_id = await new_user(database, "owner"), await new_user(database, "taker")
    exam = await bank.create(database, owner, mixed_exam(price=100))
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await attempts.start_in(session, exam, Taker(taker_id), "web")
            raise RuntimeError("the payment was refused")
    assert await attempts.of_user(database, taker_id, limit=10, before_id=None) == []
    again = await attempts.start(database, exam, Taker(taker_id), "web")  # nothing in progress
    assert again.attempt.state == "in_progress"
