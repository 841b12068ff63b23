"""Speaking slots and bookings (issue 21, 000 §14) on SQLite and PostgreSQL: who may publish on
which exam, no overlapping slots per grader, one booking per slot (the primary key decides a
race) and per candidate and exam, cancelling before the start only, and the derived state."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from persistence.accounts.models import User
from persistence.db import Database
from persistence.exams import bank
from persistence.exams.models import Exam
from persistence.speaking import slots
from persistence.speaking.models import SpeakingBooking
from persistence.speaking.slots import SpeakingError
from persistence.types import utcnow
from tests.persistence.speaking_bodies import scheduled_ielts


async def user(db: Database, name: str) -> int:
    async with db.transaction() as session:
        row = User(username=name, first_name=name.title())
        session.add(row)
    assert row.id is not None
    return row.id


async def exam_of(db: Database, owner: int, **settings: object) -> Exam:
    return await bank.create(db, owner, scheduled_ielts(**settings))


class _Code:
    """`with _Code("slot_taken"):` the block raises SpeakingError with that code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, _tb: object) -> bool:
        assert isinstance(error, SpeakingError), f"expected {self.code}, got {error!r}"
        assert error.code == self.code, (error.code, error.message)
        return True


def soon(minutes: int = 60) -> datetime:
    return utcnow().replace(microsecond=0) + timedelta(minutes=minutes)


async def test_only_scheduled_ielts_and_cefr_exams_have_slots(database: Database) -> None:
    owner = await user(database, "owner")
    with _Code("speaking_not_scheduled"):
        await slots.publish(database, await exam_of(database, owner, speaking_mode="async"), owner, soon(), 15)
    standard = await bank.create(database, owner, {"title": "Plain", "questions": [
        {"type": "free", "text": "Anything"}]})
    with _Code("speaking_not_scheduled"):
        await slots.publish(database, standard, owner, soon(), 15)
    cefr = await exam_of(database, owner, kind="cefr")
    slot = await slots.publish(database, cefr, owner, soon(), 15)
    assert slot.grader_id == owner and slot.ends_at - slot.starts_at == timedelta(minutes=15)


async def test_past_and_overlapping_slots_are_refused(database: Database) -> None:
    owner = await user(database, "grader")
    exam, other_exam = await exam_of(database, owner), await exam_of(database, owner)
    with _Code("invalid"):
        await slots.publish(database, exam, owner, utcnow() - timedelta(minutes=1), 15)
    base = soon(60)  # one reading of the clock: the slots below are placed exactly against it
    first = await slots.publish(database, exam, owner, base, 15)
    at = [base + timedelta(minutes=m) for m in (10, -10, -5, 15, -15)]
    for start, exam_used in ((at[0], exam), (at[1], other_exam), (at[2], exam)):
        with pytest.raises(SpeakingError) as info:
            await slots.publish(database, exam_used, owner, start, 15)
        assert info.value.code == "slot_overlap" and info.value.details[0]["slot_id"] == first.id
    # Back to back is not an overlap.
    await slots.publish(database, exam, owner, at[3], 15)
    await slots.publish(database, exam, owner, at[4], 15)


async def test_racing_candidates_exactly_one_wins(database: Database) -> None:
    owner = await user(database, "racehost")
    exam = await exam_of(database, owner)
    slot = await slots.publish(database, exam, owner, soon(), 15)
    candidates = [await user(database, f"racer{i}") for i in range(5)]
    outcomes = await asyncio.gather(*(slots.book(database, slot.id or 0, c) for c in candidates),
                                    return_exceptions=True)
    winners = [o for o in outcomes if isinstance(o, SpeakingBooking)]
    losers = [o for o in outcomes if isinstance(o, SpeakingError)]
    assert len(winners) == 1 and len(losers) == 4, outcomes
    assert {loser.code for loser in losers} == {"slot_taken"}
    record = await slots.get(database, slot.id or 0)
    assert record is not None and record.booking is not None
    assert record.booking.candidate_id == winners[0].candidate_id


async def test_the_primary_key_decides_when_the_check_saw_a_free_slot(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser of a race passed the check before the winner's row existed: only the key stops it."""
    owner = await user(database, "keyhost")
    exam = await exam_of(database, owner)
    slot = await slots.publish(database, exam, owner, soon(), 15)
    stale = await slots.get(database, slot.id or 0)  # read while free
    first, second = await user(database, "first"), await user(database, "second")
    await slots.book(database, slot.id or 0, first)

    async def as_seen_before(_db: Database, _slot_id: int) -> slots.SlotRecord | None:
        return stale

    monkeypatch.setattr(slots, "get", as_seen_before)
    with _Code("slot_taken"):
        await slots.book(database, slot.id or 0, second)
    monkeypatch.undo()
    async with database.transaction() as session:  # and straight at the table
        session.add(SpeakingBooking(slot_id=slot.id or 0, exam_id=exam.id or 0, candidate_id=second))
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()


async def test_one_booking_per_candidate_and_exam_and_cancel_before_start(database: Database) -> None:
    owner, candidate = await user(database, "host2"), await user(database, "cand2")
    exam = await exam_of(database, owner)
    early = await slots.publish(database, exam, owner, soon(60), 15)
    late = await slots.publish(database, exam, owner, soon(120), 15)
    await slots.book(database, early.id or 0, candidate)
    with _Code("already_booked"):
        await slots.book(database, early.id or 0, candidate)
    with pytest.raises(SpeakingError) as info:
        await slots.book(database, late.id or 0, candidate)
    assert info.value.code == "already_booked"
    with _Code("forbidden"):
        await slots.book(database, late.id or 0, owner)  # the grader does not book their own slot
    with _Code("slot_started"):
        await slots.cancel(database, early.id or 0, candidate, now=early.starts_at)
    with _Code("not_found"):
        await slots.cancel(database, late.id or 0, candidate)
    await slots.cancel(database, early.id or 0, candidate)
    await slots.book(database, late.id or 0, candidate)
    with _Code("slot_started"):
        await slots.book(database, early.id or 0, await user(database, "tardy"), now=early.starts_at)


async def test_state_free_booked_held_missed(database: Database) -> None:
    owner = await user(database, "host3")
    exam = await exam_of(database, owner)
    held, missed = await slots.publish(database, exam, owner, soon(60), 10), await slots.publish(
        database, exam, owner, soon(90), 10)
    await slots.book(database, held.id or 0, await user(database, "talker"))
    await slots.book(database, missed.id or 0, await user(database, "absent"))
    after = slots.room_closes_at(missed)
    assert slots.room_closes_at(missed) == missed.ends_at + timedelta(minutes=10)
    assert slots.room_opens_at(missed) == missed.starts_at - timedelta(minutes=5)

    async def state(slot_id: int, now: datetime) -> str:
        record = await slots.get(database, slot_id)
        assert record is not None
        return slots.state_of(record.slot, record.booking, now)

    assert await state(held.id or 0, utcnow()) == "booked"
    assert await slots.record_held(database, held.id or 0) is True
    assert await slots.record_held(database, held.id or 0) is False  # once
    assert await state(held.id or 0, after) == "held"
    assert await state(missed.id or 0, after - timedelta(seconds=1)) == "booked"
    assert await state(missed.id or 0, after) == "missed"
    free = await slots.publish(database, exam, owner, soon(200), 10)
    assert await state(free.id or 0, utcnow()) == "free"


async def test_withdrawing_a_slot_takes_its_booking_only_before_the_start(database: Database) -> None:
    owner = await user(database, "host4")
    exam = await exam_of(database, owner)
    slot = await slots.publish(database, exam, owner, soon(), 15)
    await slots.book(database, slot.id or 0, await user(database, "dropped"))
    with _Code("slot_started"):
        await slots.delete_slot(database, slot.id or 0, now=slot.starts_at)
    await slots.delete_slot(database, slot.id or 0)
    assert await slots.get(database, slot.id or 0) is None
    with _Code("not_found"):
        await slots.delete_slot(database, slot.id or 0)


async def test_the_export_lists_bookings_and_deletion_frees_future_slots(database: Database) -> None:
    from persistence.accounts import hooks
    from persistence.speaking import account_hooks

    account_hooks.install()
    owner, leaving = await user(database, "host5"), await user(database, "leaving")
    exam = await exam_of(database, owner, title="Export me")
    past, future = await slots.publish(database, exam, owner, soon(60), 10), await slots.publish(
        database, exam, owner, soon(120), 10)
    other_exam = await exam_of(database, owner)
    await slots.book(database, past.id or 0, leaving)
    await slots.book(database, (await slots.publish(database, other_exam, owner, soon(180), 10)).id or 0, leaving)
    await slots.record_held(database, past.id or 0)
    async with database.session() as session:
        exported = await hooks.export_sections["speaking"](session, leaving)
        graded = await account_hooks.export_speaking(session, owner)
    assert next((e["slot_id"], e["role"], e["state"], e["exam_title"]) for e in exported) == (
        past.id, "candidate", "held", "Export me")
    assert len(exported) == 2 and {e["role"] for e in graded} == {"grader"} and len(graded) == 3
    assert future.id in {e["slot_id"] for e in graded}
    await _move(database, past.id or 0, utcnow() - timedelta(hours=2))  # the held call is in the past
    async with database.transaction() as session:
        await account_hooks.cancel_future_bookings(session, leaving)
    async with database.session() as session:
        left = await account_hooks.export_speaking(session, leaving)
    assert [e["slot_id"] for e in left] == [past.id]  # the future booking went, the held call stays


async def _move(db: Database, slot_id: int, starts_at: datetime) -> None:
    from sqlalchemy import update
    from sqlmodel import col

    from persistence.speaking.models import SpeakingSlot

    async with db.transaction() as session:
        await session.exec(update(SpeakingSlot).where(col(SpeakingSlot.id) == slot_id)
                           .values(starts_at=starts_at, ends_at=starts_at + timedelta(minutes=10)))
