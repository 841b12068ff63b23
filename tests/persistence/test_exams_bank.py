"""The exam bank on SQLite and PostgreSQL: what an exam may contain, who sees the answers,
edits validated whole, soft deletion, owner lists and the title search."""

from __future__ import annotations

from typing import Any

import pytest

from persistence.accounts.models import User
from persistence.db import Database
from persistence.exams import bank
from persistence.exams.schema import ExamInvalid, parse_exam
from tests.persistence.exam_bodies import mixed_exam


async def new_user(database: Database, name: str) -> int:
    async with database.transaction() as session:
        user = User(username=name, first_name=name)
        session.add(user)
        await session.flush()
        assert user.id is not None
        return user.id


def problems(data: Any) -> list[dict[str, Any]]:
    with pytest.raises(ExamInvalid) as caught:
        parse_exam(data)
    return caught.value.details


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"title": "x", "questions": []}, []),
        ({"title": "", "questions": mixed_exam()["questions"]}, ["title"]),
        (
            {"title": "x", "questions": [{"type": "select_one", "text": "q", "options": ["a", "b"], "correct": 2}]},
            ["questions", 0, "select_one"],
        ),
        (
            {"title": "x", "questions": [{"type": "select_one", "text": "q", "options": ["a", "A"], "correct": 0}]},
            ["questions", 0, "select_one", "options"],
        ),
        (
            {
                "title": "x",
                "questions": [{"type": "select_many", "text": "q", "options": ["a", "b"], "correct": [0, 0]}],
            },
            ["questions", 0, "select_many"],
        ),
        (
            {"title": "x", "questions": [{"type": "text", "text": "q", "accepted": []}]},
            ["questions", 0, "text", "accepted"],
        ),
        ({"title": "x", "questions": [{"type": "essay", "text": "q"}]}, ["questions", 0]),
        ({"title": "x", "price": -1, "questions": mixed_exam()["questions"]}, ["price"]),
        ({"title": "x", "price": 1.5, "questions": mixed_exam()["questions"]}, ["price"]),
        ({"title": "x", "pass_percent": 101, "questions": mixed_exam()["questions"]}, ["pass_percent"]),
        ({"title": "x", "kind": "ielts_academic", "questions": mixed_exam()["questions"]}, []),
        ({"title": "x", "mode": "trainer", "questions": mixed_exam()["questions"]}, []),
    ],
)
def test_invalid_exams_are_refused_with_details(body: dict[str, Any], where: list[Any]) -> None:
    found = problems(body)
    assert found and all({"loc", "msg", "type"} <= set(p) for p in found)
    assert any(p["loc"][: len(where)] == where for p in found), found


def test_sections_count_positions_in_order() -> None:
    spec = parse_exam(
        {
            "title": "IELTS",
            "kind": "ielts_academic",
            "sections": [
                {"skill": "listening", "questions": [{"type": "text", "text": "Word?", "accepted": ["cat"]}]},
                {"skill": "reading", "questions": [{"type": "select_one", "text": "Pick", "options": ["a", "b"],
                                                    "correct": 0}]},
                {"skill": "writing", "questions": [{"type": "free", "text": "Essay"}]},
                {"skill": "speaking", "questions": [{"type": "free", "text": "Talk"}]},
            ],
        }
    )
    assert [q.type for q in spec.flat_questions()] == ["text", "select_one", "free", "free"]


async def test_owner_sees_answers_others_do_not(database: Database) -> None:
    owner = await new_user(database, "owner")
    exam = await bank.create(database, owner, mixed_exam())
    mine = bank.view(exam, with_answers=True)
    theirs = bank.view(exam, with_answers=False)
    assert mine["questions"][0]["correct"] == 1 and mine["questions"][2]["accepted"] == ["Paris"]
    assert all("correct" not in q and "accepted" not in q for q in theirs["questions"])
    assert theirs["questions"][1]["options"] == ["2", "3", "4", "5"]
    assert theirs["questions"][4]["extra"] is True
    assert mine["owner"] == owner and mine["question_count"] == 5


async def test_edits_are_validated_whole_and_keep_what_is_not_sent(database: Database) -> None:
    owner = await new_user(database, "owner")
    exam = await bank.create(database, owner, mixed_exam(show_in_bot=True, proctoring={"camera": True}))
    assert exam.id is not None
    edited = await bank.update(database, exam.id, {"price": 9000, "proctoring": {"fullscreen": True}})
    assert edited is not None
    assert (edited.price, edited.show_in_bot, edited.proctor_camera, edited.proctor_fullscreen) == (
        9000,
        True,
        True,
        True,
    )
    with pytest.raises(ExamInvalid):
        await bank.update(database, exam.id, {"questions": [{"type": "select_one", "text": "q"}]})
    again = await bank.get(database, exam.id)
    assert again is not None and again.question_count == 5 and again.price == 9000


async def test_deleted_exams_are_found_by_nobody(database: Database) -> None:
    owner = await new_user(database, "owner")
    exam = await bank.create(database, owner, mixed_exam())
    assert exam.id is not None
    assert await bank.delete(database, exam.id) is True
    assert await bank.get(database, exam.id) is None
    assert await bank.delete(database, exam.id) is False
    assert await bank.listing(database, owner_id=owner) == []


async def test_lists_page_newest_first_and_search_active_titles(database: Database) -> None:
    ada, bob = await new_user(database, "ada"), await new_user(database, "bob")
    ids = [(await bank.create(database, ada, mixed_exam(title=f"Algebra {i}"))).id or 0 for i in range(3)]
    await bank.create(database, bob, mixed_exam(title="Hidden algebra", active=False))
    await bank.create(database, bob, mixed_exam(title="History 100%_"))
    first = await bank.listing(database, owner_id=ada, limit=2)
    assert [e.id for e in first] == [ids[2], ids[1]]
    rest = await bank.listing(database, owner_id=ada, limit=2, before_id=first[-1].id)
    assert [e.id for e in rest] == [ids[0]]
    found = await bank.listing(database, query="ALGEBRA")
    assert sorted(e.id or 0 for e in found) == sorted(ids)  # the inactive one is not found
    assert [e.title for e in await bank.listing(database, query="0%_")] == ["History 100%_"]
    assert await bank.listing(database, query="a%y") == []  # % is a character here, not a wildcard
