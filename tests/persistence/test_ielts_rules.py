"""The IELTS/CEFR rules a real user meets, on SQLite and PostgreSQL: a recorded Speaking prompt
takes no text answer (and the bot, which takes text, does not offer such an exam); nobody grades
their own attempt, nor finds it in their queue; a paid exam's Speaking slot is booked only with
a paid attempt; an IELTS exam has the four skills each once, a CEFR exam's level is of the
skills it tests; and a page of attempts gets its bands in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from gameserver.platform.exams_bot import bot_exams
from persistence.db import Database
from persistence.exams import attempts, bank
from persistence.exams.attempts import AttemptError, Taker
from persistence.exams.models import Exam
from persistence.exams.schema import ExamInvalid, parse_exam
from persistence.ielts import grading, outcome
from persistence.ielts.grading import GradeIn
from persistence.speaking import slots
from persistence.speaking.slots import SpeakingError
from persistence.types import utcnow
from persistence.wallet.service import grant_admin_bonus, pay_for_exam
from tests.persistence.ielts_bodies import SPEAKING, WRITING, four_skills_exam
from tests.persistence.speaking_bodies import scheduled_ielts
from tests.persistence.test_exams_bank import new_user


def _refusal(error: AttemptError | SpeakingError) -> tuple[int, str]:
    return error.status, error.code


async def test_a_recorded_speaking_prompt_refuses_a_text_answer(database: Database) -> None:
    owner, taker = await new_user(database, "owner"), await new_user(database, "taker")
    exam = await bank.create(database, owner, four_skills_exam(show_in_bot=True))
    run = await attempts.start(database, exam, Taker(taker), "web")
    attempt_id = run.attempt.id or 0
    with pytest.raises(AttemptError) as refused:
        await attempts.answer(database, attempt_id, Taker(taker), SPEAKING[0], {"text": "I live in Tashkent."})
    assert _refusal(refused.value) == (422, "invalid")
    assert refused.value.details == [{"loc": ["path", "n"], "msg": "a speaking answer is an uploaded recording",
                                      "type": "audio_required"}]
    await attempts.answer(database, attempt_id, Taker(taker), WRITING, {"text": "An essay is text."})
    assert set(await attempts.answers_of(database, attempt_id)) == {WRITING}  # the refused one left nothing
    live = await bank.create(database, owner, four_skills_exam(title="live", speaking_mode="scheduled",
                                                               show_in_bot=True))
    standard = await bank.create(database, owner, {"title": "plain", "show_in_bot": True, "questions": [
        {"type": "free", "text": "Say something"}]})
    offered = [e.id for e in await bot_exams(database, Taker(telegram_id=77))]
    assert standard.id in offered and live.id in offered  # (the migration's sample exams are there too)
    assert exam.id not in offered  # the recorded-speaking exam is not offered to the bot


async def test_nobody_grades_their_own_attempt(database: Database) -> None:
    owner, grader, taker = [await new_user(database, name) for name in ("owner", "grader", "taker")]
    exam = await bank.create(database, owner, four_skills_exam())
    await grading.add_grader(database, exam.id or 0, grader)
    finished = {}
    for who in (owner, grader, taker):
        run = await attempts.start(database, exam, Taker(who), "web")
        await attempts.finish(database, run.attempt.id or 0, Taker(who))
        finished[who] = run.attempt.id or 0
    for who in (owner, grader):
        with pytest.raises(AttemptError) as refused:
            await grading.set_grade(database, finished[who], GradeIn("writing", 9.0, None, "mine"), who)
        assert _refusal(refused.value) == (403, "own_attempt")
        assert await grading.grades_of(database, finished[who]) == {}
        queued = [e.attempt.id for e in (await grading.queue(database, who, limit=20, after_id=None))[0]]
        assert finished[who] not in queued and finished[taker] in queued
    await grading.set_grade(database, finished[owner], GradeIn("writing", 6.0, None, "by the grader"), grader)
    await grading.set_grade(database, finished[grader], GradeIn("writing", 6.0, None, "by the owner"), owner)
    queued = [e.attempt.id for e in (await grading.queue(database, owner, limit=20, after_id=None))[0]]
    assert queued == [finished[grader], finished[taker]]


async def _paid_start(database: Database, exam: Exam, taker: int, admin: int) -> int:
    """Start an attempt of a paid exam as the API does: paid from the wallet in the same transaction."""
    async with database.transaction() as session:
        await grant_admin_bonus(session, admin, taker, exam.price, "test money")
    async with database.transaction() as session:
        run = await attempts.start_in(session, exam, Taker(taker), "web")
        await pay_for_exam(session, taker, exam.owner_id or 0, exam.price, exam_id=exam.id or 0)
        run.attempt.paid = exam.price
        session.add(run.attempt)
    return run.attempt.id or 0


async def test_a_paid_exams_slot_is_booked_only_with_a_paid_attempt(database: Database) -> None:
    owner, admin, payer, freeloader = [await new_user(database, n) for n in ("owner", "admin", "payer", "freeloader")]
    exam = await bank.create(database, owner, scheduled_ielts(price=5000, free_question_limit=2))
    soon = utcnow().replace(microsecond=0) + timedelta(hours=1)
    first, second, third = [await slots.publish(database, exam, owner, soon + timedelta(minutes=30 * i), 15)
                            for i in range(3)]
    preview = await attempts.start(database, exam, Taker(freeloader), "web", preview=True)  # free: pays nothing
    assert preview.attempt.paid == 0
    with pytest.raises(SpeakingError) as refused:
        await slots.book(database, first.id or 0, freeloader)
    assert _refusal(refused.value) == (402, "payment_required")
    assert (await slots.get(database, first.id or 0)).booking is None  # type: ignore[union-attr]
    await _paid_start(database, exam, payer, admin)
    assert (await slots.book(database, first.id or 0, payer)).candidate_id == payer
    assert (await slots.book(database, second.id or 0, admin, staff=True)).candidate_id == admin
    free = await bank.create(database, owner, scheduled_ielts(title="free"))
    open_slot = await slots.publish(database, free, owner, soon + timedelta(hours=3), 15)
    assert (await slots.book(database, open_slot.id or 0, freeloader)).candidate_id == freeloader
    assert third.id is not None


def _problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ExamInvalid) as refused:
        parse_exam(body)
    return refused.value.details


@pytest.mark.parametrize("kind", ["ielts_academic", "ielts_general"])
def test_an_ielts_exam_has_the_four_skills_each_once(kind: str) -> None:
    body = four_skills_exam(kind)
    parse_exam(body)
    without_speaking = {**body, "sections": body["sections"][:3]}
    assert _problems(without_speaking) == [{"loc": ["sections"], "type": "section_skills", "msg": (
        "an IELTS exam has the sections listening, reading, writing and speaking, each once: missing speaking")}]
    twice = {**body, "sections": [body["sections"][0], body["sections"][1], body["sections"][1], body["sections"][2]]}
    assert _problems(twice)[0]["msg"].endswith("missing speaking; reading more than once")
    unscored = four_skills_exam(kind)
    unscored["sections"][0]["questions"] = [{"type": "free", "text": "What did you hear?"}]
    assert _problems(unscored)[0]["type"] == "section_unscored"
    chosen = four_skills_exam(kind)
    chosen["sections"][3]["questions"] = [{"type": "select_one", "text": "Pick", "options": ["a", "b"], "correct": 0}]
    assert _problems(chosen)[0]["type"] == "speaking_not_free"


async def test_a_partial_ielts_exam_is_refused_on_update_too(database: Database) -> None:
    owner = await new_user(database, "owner")
    exam = await bank.create(database, owner, four_skills_exam())
    sections = four_skills_exam()["sections"]
    with pytest.raises(ExamInvalid) as refused:
        await bank.update(database, exam.id or 0, {"sections": sections[1:]})
    assert "missing listening" in refused.value.details[0]["msg"]
    with pytest.raises(ExamInvalid):
        await bank.update(database, exam.id or 0, {"kind": "ielts_general", "sections": sections[:2]})
    assert (await bank.get(database, exam.id or 0)).question_count == 7  # type: ignore[union-attr]


async def test_a_cefr_exam_is_levelled_on_the_skills_it_tests(database: Database) -> None:
    owner, taker = await new_user(database, "owner"), await new_user(database, "taker")
    body = four_skills_exam("cefr")
    body["sections"] = [body["sections"][1], body["sections"][2]]  # reading (0, 1) and writing (2)
    exam = await bank.create(database, owner, body)
    twice = four_skills_exam("cefr")
    twice["sections"] = [body["sections"][0], body["sections"][0]]
    assert _problems(twice)[0]["msg"] == "each skill is one section: reading more than once"
    run = await attempts.start(database, exam, Taker(taker), "web")
    await attempts.answer(database, run.attempt.id or 0, Taker(taker), 0, {"text": "Bukhara"})
    finished = await attempts.finish(database, run.attempt.id or 0, Taker(taker))
    result = await outcome.result_fields(database, finished, exam)
    assert result["skills"] == {"listening": None, "reading": 50.0, "writing": None, "speaking": None}
    assert result["cefr"] is None  # writing not graded yet: the release rule
    await grading.set_grade(database, finished.id or 0, GradeIn("writing", None, 70.0, ""), owner)
    done = await outcome.result_fields(database, finished, exam)
    assert done["cefr"] == "B2"  # (50 + 70) / 2 = 60, on the skills the exam tests


@contextmanager
def counted(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def test_a_page_of_attempts_gets_its_bands_in_a_fixed_number_of_queries(database: Database) -> None:
    owner = await new_user(database, "owner")
    ielts = await bank.create(database, owner, four_skills_exam())
    cefr = await bank.create(database, owner, four_skills_exam("cefr"))
    standard = await bank.create(database, owner, {"title": "plain", "questions": [
        {"type": "select_one", "text": "2+2?", "options": ["3", "4"], "correct": 1}]})
    found = []
    for index in range(6):
        taker = await new_user(database, f"taker{index}")
        for exam in (ielts, cefr, standard):
            run = await attempts.start(database, exam, Taker(taker), "web")
            await attempts.answer(database, run.attempt.id or 0, Taker(taker), 0, {"option": 1})
            found.append(await attempts.finish(database, run.attempt.id or 0, Taker(taker)))
        await grading.set_grade(database, found[-3].id or 0, GradeIn("writing", 6.5, None, ""), owner)
    in_progress = (await attempts.start(database, ielts, Taker(owner), "web")).attempt
    with counted(database) as few:
        small = await outcome.results_of(database, [*found[:3], in_progress])
    with counted(database) as many:
        large = await outcome.results_of(database, [*found, in_progress])
    assert len(few) == len(many) == 3  # exams, answers, grades: one query each, whatever the page
    assert set(large) == {a.id for a in found if a.exam_id != standard.id}
    for attempt in found:
        exam = {ielts.id: ielts, cefr.id: cefr, standard.id: standard}[attempt.exam_id]
        single = await outcome.result_fields(database, attempt, exam)
        assert large.get(attempt.id or 0, {}) == single
    assert large[found[0].id or 0]["bands"]["writing"] == 6.5 and small[found[0].id or 0]["bands"]["listening"]
