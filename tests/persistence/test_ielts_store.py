"""IELTS/CEFR persistence on SQLite and PostgreSQL: an attempt's bands from its answers and
grades (and the release rule), grading (finished attempts only, regrading replaces), the
grading queue (owner and graders, nobody else), recordings (kept only while the attempt is
open) and the account hooks (export lists grades; deletion removes the recordings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from persistence import blobs
from persistence.accounts import hooks
from persistence.accounts.deletion import erase
from persistence.accounts.export import export
from persistence.blobs import LocalBlobStore
from persistence.db import Database
from persistence.exams import attempts, bank
from persistence.exams.attempts import AttemptError, Taker
from persistence.ielts import audio, grading, outcome
from persistence.ielts.grading import GradeIn
from tests.persistence.ielts_bodies import SPEAKING, WEBM, WRITING, four_skills_exam
from tests.persistence.test_exams_bank import new_user


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalBlobStore]:
    """A blob store of files under tmp_path as the process's store, for this test only."""
    saved = blobs._installed
    yield blobs.install(LocalBlobStore(tmp_path))  # type: ignore[misc]
    blobs._installed = saved


@pytest.fixture
def ielts_hooks() -> Iterator[None]:
    """The IELTS account hooks, for this test only (hooks are process-wide)."""
    from persistence.ielts import account_hooks

    saved = (list(hooks.on_deleted), dict(hooks.export_sections))
    account_hooks.install()
    yield
    hooks.on_deleted[:] = saved[0]
    hooks.export_sections.clear()
    hooks.export_sections.update(saved[1])


async def _taken(
    database: Database, kind: str = "ielts_academic", suffix: str = "", **settings: Any
) -> tuple[int, int, int, int]:
    """An exam by a new owner and an attempt at it by a new taker: (owner, taker, exam, attempt)."""
    owner, taker = await new_user(database, f"owner{suffix}"), await new_user(database, f"taker{suffix}")
    exam = await bank.create(database, owner, four_skills_exam(kind, **settings))
    run = await attempts.start(database, exam, Taker(taker), "web")
    assert exam.id is not None and run.attempt.id is not None
    return owner, taker, exam.id, run.attempt.id


async def _result(database: Database, attempt_id: int) -> dict[str, Any]:
    attempt, exam = await attempts.load(database, attempt_id)
    return await outcome.result_fields(database, attempt, exam)


async def test_bands_from_answers_and_the_release_rule(database: Database) -> None:
    owner, taker, _exam, attempt_id = await _taken(database)
    given: dict[int, dict[str, Any]] = {0: {"option": 1}, 1: {"option": 1}, 2: {"text": " bukhara"},
                                        3: {"text": "Zarafshan"}, WRITING: {"text": "Parks matter because..."}}
    for n, body in given.items():
        await attempts.answer(database, attempt_id, Taker(taker), n, body)
    assert await _result(database, attempt_id) == {}  # not finished: no result yet
    with pytest.raises(AttemptError) as early:
        await grading.set_grade(database, attempt_id, GradeIn("writing", 6.0, None, ""), owner)
    assert early.value.code == "attempt_not_finished"
    await attempts.finish(database, attempt_id, Taker(taker))
    result = await _result(database, attempt_id)
    # 1 of 2 listening is 20 of 40 (band 5.5); 2 of 2 reading is 40 (band 9).
    assert result["raw"] == {"listening": 20, "reading": 40}
    assert result["bands"] == {"listening": 5.5, "reading": 9.0, "writing": None, "speaking": None}
    assert (result["overall"], result["cefr"]) == (None, None)
    await grading.set_grade(database, attempt_id, GradeIn("writing", 6.5, None, "Good"), owner)
    result = await _result(database, attempt_id)
    assert result["bands"]["writing"] == 6.5 and result["comments"]["writing"] == "Good"
    assert result["overall"] is None  # speaking still ungraded
    await grading.set_grade(database, attempt_id, GradeIn("speaking", 7.0, None, "Fluent"), owner)
    result = await _result(database, attempt_id)
    assert (result["overall"], result["cefr"]) == (7.0, "C1")  # (5.5 + 9 + 6.5 + 7) / 4 = 7.0
    await grading.set_grade(database, attempt_id, GradeIn("speaking", 5.0, None, "Regraded"), owner)
    result = await _result(database, attempt_id)
    assert (result["bands"]["speaking"], result["comments"]["speaking"]) == (5.0, "Regraded")
    assert (result["overall"], result["cefr"]) == (6.5, "B2")  # 26 / 4 = 6.5
    assert len(await grading.grades_of(database, attempt_id)) == 2


async def test_cefr_exam_levels_from_skill_percentages(database: Database) -> None:
    owner, taker, _exam, attempt_id = await _taken(database, "cefr")
    given: dict[int, dict[str, Any]] = {0: {"option": 1}, 1: {"option": 0}, 2: {"text": "Bukhara"},
                                        3: {"text": "Zarafshan"}}
    for n, body in given.items():
        await attempts.answer(database, attempt_id, Taker(taker), n, body)
    await attempts.finish(database, attempt_id, Taker(taker))
    result = await _result(database, attempt_id)
    assert result["skills"] == {"listening": 100.0, "reading": 100.0, "writing": None, "speaking": None}
    assert (result["bands"], result["overall"], result["cefr"]) == (None, None, None)
    await grading.set_grade(database, attempt_id, GradeIn("writing", None, 70.0, ""), owner)
    await grading.set_grade(database, attempt_id, GradeIn("speaking", None, 50.0, ""), owner)
    result = await _result(database, attempt_id)
    assert result["cefr"] == "C1"  # (100 + 100 + 70 + 50) / 4 = 80


async def test_a_fullscreen_exit_scores_no_band(database: Database) -> None:
    _owner, taker, _exam, attempt_id = await _taken(database, proctoring={"fullscreen": True})
    await attempts.answer(database, attempt_id, Taker(taker), 0, {"option": 1})
    from persistence.exams import proctoring

    await proctoring.record_event(database, attempt_id, Taker(taker), "fullscreen_exit", None)
    result = await _result(database, attempt_id)
    assert result["raw"] == {"listening": 0, "reading": 0}
    assert result["bands"]["listening"] == 0.0


async def test_grading_queue_lists_owners_and_graders_attempts_only(database: Database) -> None:
    owner, taker, exam_id, attempt_id = await _taken(database)
    grader, stranger = await new_user(database, "grader"), await new_user(database, "stranger")
    await grading.add_grader(database, exam_id, grader)
    await grading.add_grader(database, exam_id, grader)  # naming twice is one appointment
    assert [g["user_id"] for g in await grading.graders_of(database, exam_id)] == [grader]
    assert (await grading.queue(database, owner, limit=20, after_id=None))[0] == []  # in progress: not yet
    await attempts.finish(database, attempt_id, Taker(taker))
    for who in (owner, grader):
        entries, cursor = await grading.queue(database, who, limit=20, after_id=None)
        assert [(e.attempt.id, e.awaiting, e.candidate) for e in entries] == [(attempt_id, ["writing", "speaking"],
                                                                                "taker")]
        assert cursor is None
    assert (await grading.queue(database, stranger, limit=20, after_id=None))[0] == []
    assert (await grading.queue(database, taker, limit=20, after_id=None))[0] == []
    await grading.set_grade(database, attempt_id, GradeIn("writing", 6.0, None, ""), grader)
    entries, _ = await grading.queue(database, grader, limit=20, after_id=None)
    assert entries[0].awaiting == ["speaking"] and set(entries[0].graded) == {"writing"}
    await grading.set_grade(database, attempt_id, GradeIn("speaking", 6.0, None, ""), grader)
    assert (await grading.queue(database, grader, limit=20, after_id=None))[0] == []
    assert await grading.remove_grader(database, exam_id, grader)
    assert not await grading.remove_grader(database, exam_id, grader)
    assert not await grading.is_grader(database, exam_id, grader)


async def test_grading_queue_pages_oldest_first(database: Database) -> None:
    owner = await new_user(database, "owner")
    exam = await bank.create(database, owner, four_skills_exam())
    finished = []
    for index in range(3):
        taker = await new_user(database, f"taker{index}")
        run = await attempts.start(database, exam, Taker(taker), "web")
        await attempts.finish(database, run.attempt.id or 0, Taker(taker))
        finished.append(run.attempt.id)
    first, cursor = await grading.queue(database, owner, limit=2, after_id=None)
    assert [e.attempt.id for e in first] == finished[:2] and cursor == finished[1]
    rest, end = await grading.queue(database, owner, limit=2, after_id=cursor)
    assert [e.attempt.id for e in rest] == finished[2:] and end is None


async def test_an_exam_without_speaking_awaits_writing_only(database: Database) -> None:
    owner, taker = await new_user(database, "owner"), await new_user(database, "taker")
    body = four_skills_exam("cefr")  # a CEFR exam may leave a skill out; an IELTS exam may not
    body["sections"] = body["sections"][:3]
    exam = await bank.create(database, owner, body)
    run = await attempts.start(database, exam, Taker(taker), "web")
    await attempts.finish(database, run.attempt.id or 0, Taker(taker))
    entries, _ = await grading.queue(database, owner, limit=20, after_id=None)
    assert [e.awaiting for e in entries] == [["writing"]]


async def _recorded(store: LocalBlobStore, exam_id: int, attempt_id: int, n: int, data: bytes) -> tuple[str, Path]:
    key = audio.audio_key(exam_id, attempt_id, n, "audio/webm")
    await audio.put(key, data, "audio/webm")
    assert await audio.read(key) == data
    return key, store.path_of(key)


async def test_a_recording_answers_only_while_the_attempt_is_open(database: Database, store: LocalBlobStore) -> None:
    _owner, taker, exam_id, attempt_id = await _taken(database)
    first, first_path = await _recorded(store, exam_id, attempt_id, SPEAKING[0], WEBM)
    assert first.startswith(f"ielts/audio/{exam_id}/{attempt_id}/{SPEAKING[0]}-") and first.endswith(".webm")
    assert await audio.save_answer(database, attempt_id, SPEAKING[0], "audio/webm", len(WEBM), first)
    assert (await attempts.answers_of(database, attempt_id))[SPEAKING[0]] == {
        "audio": True, "content_type": "audio/webm", "size": len(WEBM)}
    second, second_path = await _recorded(store, exam_id, attempt_id, SPEAKING[0], WEBM[:100])
    assert await audio.save_answer(database, attempt_id, SPEAKING[0], "audio/webm", 100, second)
    assert not first_path.exists() and second_path.exists()  # a new upload replaces the old blob
    await attempts.finish(database, attempt_id, Taker(taker))
    assert not await audio.save_answer(database, attempt_id, SPEAKING[1], "audio/webm", 100, second)
    assert [row.position for row in await audio.of_attempt(database, attempt_id)] == [SPEAKING[0]]


async def test_export_lists_grades_and_deletion_removes_recordings(
    database: Database, store: LocalBlobStore, ielts_hooks: None
) -> None:
    owner, taker, exam_id, attempt_id = await _taken(database)
    other_owner, other_taker, other_exam, other_attempt = await _taken(database, suffix="2")
    paths = []
    for who, exam, attempt in ((taker, exam_id, attempt_id), (other_taker, other_exam, other_attempt)):
        key, path = await _recorded(store, exam, attempt, SPEAKING[0], WEBM)
        assert await audio.save_answer(database, attempt, SPEAKING[0], "audio/webm", len(WEBM), key)
        await attempts.finish(database, attempt, Taker(who))
        paths.append(path)
    await grading.set_grade(database, attempt_id, GradeIn("writing", 6.0, None, "Fine"), owner)
    await grading.set_grade(database, other_attempt, GradeIn("writing", 8.0, None, "Other"), other_owner)
    await grading.add_grader(database, other_exam, taker)
    exported = await export(database, taker)
    assert [(g["attempt_id"], g["section"], g["band"], g["comment"]) for g in exported["ielts_grades"]] == [
        (attempt_id, "writing", 6.0, "Fine")]
    assert [(r["attempt_id"], r["n"]) for r in exported["ielts_recordings"]] == [(attempt_id, SPEAKING[0])]
    await erase(database, taker, actor_id=taker)
    assert not paths[0].exists() and paths[1].exists()  # only the deleted account's voice goes
    assert await audio.of_attempt(database, attempt_id) == []
    assert len(await audio.of_attempt(database, other_attempt)) == 1
    assert not await grading.is_grader(database, other_exam, taker)
