"""The exams and solo-attempts HTTP contract (PLATFORM.md "Exams", "Solo attempts") against a
real server process, a real Redis, and SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from persistence.db import Database
from persistence.exams.models import Attempt
from persistence.types import utcnow
from tests.persistence.exam_bodies import mixed_exam
from tests.platform_support import Account, make_account, platform_server, wait_for
from tests.sql_support import SqlTarget, sql_targets
from tests.support import ServerProcess, host, player


@pytest.fixture(scope="module", params=sql_targets())
def sql_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with request.param.prepared(tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def exams_server(
    sql_target: SqlTarget, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[ServerProcess]:
    with platform_server(sql_target, tmp_path_factory.mktemp("server"), redis_url) as server:
        yield server


_names = iter(range(1_000_000))


async def account(target: SqlTarget, prefix: str) -> Account:
    return await make_account(target, f"{prefix}{next(_names)}")


async def create(http: httpx.AsyncClient, owner: Account, **settings: Any) -> dict[str, Any]:
    response = await http.post("/api/exams", json=mixed_exam(**settings), headers=owner.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_bank_crud_owner_sees_answers_others_do_not(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, other = await account(sql_target, "owner"), await account(sql_target, "other")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        assert (await http.post("/api/exams", json=mixed_exam())).json()["error"]["code"] == "unauthorized"
        bad = await http.post(
            "/api/exams", json={"title": "x", "questions": [{"type": "select_one", "text": "q"}]}, headers=owner.headers
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"
        assert bad.json()["error"]["details"][0]["loc"][:2] == ["questions", 0]
        exam = await create(http, owner, price=0)
        exam_id = exam["id"]
        assert exam["owner"] == owner.user_id and exam["questions"][0]["correct"] == 1
        mine = (await http.get(f"/api/exams/{exam_id}", headers=owner.headers)).json()
        assert mine["questions"][2]["accepted"] == ["Paris"]
        for headers in (other.headers, {}):
            seen = (await http.get(f"/api/exams/{exam_id}", headers=headers)).json()
            assert all("correct" not in q and "accepted" not in q for q in seen["questions"]), seen
            assert len(seen["questions"]) == 5
        refused = await http.patch(f"/api/exams/{exam_id}", json={"title": "Mine now"}, headers=other.headers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        edited = await http.patch(
            f"/api/exams/{exam_id}", json={"title": "Renamed", "show_in_bot": True}, headers=owner.headers
        )
        assert edited.status_code == 200 and edited.json()["title"] == "Renamed" and edited.json()["show_in_bot"]
        invalid_edit = await http.patch(f"/api/exams/{exam_id}", json={"pass_percent": 500}, headers=owner.headers)
        assert invalid_edit.status_code == 422 and invalid_edit.json()["error"]["details"][0]["loc"] == ["pass_percent"]
        assert (await http.delete(f"/api/exams/{exam_id}", headers=other.headers)).status_code == 403
        assert (await http.delete(f"/api/exams/{exam_id}", headers=owner.headers)).status_code == 204
        gone = await http.get(f"/api/exams/{exam_id}", headers=owner.headers)
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
        assert (await http.get("/api/exams/99999999999999", headers=owner.headers)).status_code == 404


async def test_lists_are_paged(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner = await account(sql_target, "lister")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        ids = [(await create(http, owner, title=f"Zoology {owner.username} {i}"))["id"] for i in range(3)]
        first = (await http.get("/api/exams?mine=1&limit=2", headers=owner.headers)).json()
        assert [e["id"] for e in first["items"]] == ids[:0:-1] and first["next_cursor"]
        rest = (
            await http.get(f"/api/exams?mine=1&limit=2&cursor={first['next_cursor']}", headers=owner.headers)
        ).json()
        assert [e["id"] for e in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
        assert "questions" not in first["items"][0]
        found = (await http.get(f"/api/exams?q=zoology {owner.username}")).json()
        assert sorted(e["id"] for e in found["items"]) == sorted(ids)
        assert (await http.get("/api/exams?mine=1")).status_code == 401
        assert (await http.get("/api/exams?limit=0")).json()["error"]["code"] == "invalid"


async def test_availability_by_the_table(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner = await account(sql_target, "avail")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        cases: list[tuple[dict[str, Any], dict[str, bool]]] = [
            ({}, {"web": True, "bot": False, "mobile": False, "group": True}),
            (
                {"show_in_bot": True, "show_in_mobile": True, "proctoring": {"camera": True}},
                {"web": True, "bot": False, "mobile": True, "group": False},
            ),
            ({"price": 5000, "show_in_bot": True}, {"web": True, "bot": True, "mobile": False, "group": False}),
            ({"active": False, "show_in_bot": True}, {"web": False, "bot": False, "mobile": False, "group": False}),
        ]
        for settings, expected in cases:
            exam = await create(http, owner, **settings)
            assert (await http.get(f"/api/exams/{exam['id']}/availability")).json() == expected, settings


async def test_group_game_from_an_exam_plays_its_select_one_questions(
    exams_server: ServerProcess, sql_target: SqlTarget
) -> None:
    owner, teacher = await account(sql_target, "author"), await account(sql_target, "teacher")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner)
        assert (await http.post(f"/api/exams/{exam['id']}/games", json={})).status_code == 401
        created = await http.post(f"/api/exams/{exam['id']}/games", json={"time_limit": 30}, headers=teacher.headers)
        assert created.status_code == 201, created.text
        game = created.json()
        # Of five questions only the first is select_one and not extra.
        assert (game["question_count"], game["skipped"]) == (1, 4)
        live = (await http.get(f"/api/games/{game['pin']}")).json()
        assert live["title"] == "Mixed exam" and live["question_count"] == 1
        bad = await http.post(f"/api/exams/{exam['id']}/games", json={"time_limit": 500}, headers=teacher.headers)
        assert bad.status_code == 422
        refusals: list[tuple[dict[str, Any], int, str]] = [
            ({"active": False}, 409, "exam_inactive"),
            ({"price": 1000}, 409, "exam_paid"),
            ({"proctoring": {"fullscreen": True}}, 409, "exam_proctored"),
            ({"proctoring": {"camera": True}}, 409, "exam_proctored"),
        ]
        for settings, status, code in refusals:
            refused_exam = await create(http, owner, **settings)
            refused = await http.post(f"/api/exams/{refused_exam['id']}/games", json={}, headers=teacher.headers)
            assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), settings
        only_text = await http.post(
            "/api/exams",
            headers=owner.headers,
            json={
                "title": "Words",
                "questions": [
                    {"type": "text", "text": "Say hi", "accepted": ["hi"]},
                    {"type": "select_one", "text": "x", "options": ["a", "b"], "correct": 0, "extra": True},
                ],
            },
        )
        none = await http.post(f"/api/exams/{only_text.json()['id']}/games", json={}, headers=teacher.headers)
        assert (none.status_code, none.json()["error"]["code"]) == (422, "no_playable_questions")
    # The game's results are stored with the exam's id.
    the_host = await host(exams_server.ws_url, game)
    ada, _ = await player(exams_server.ws_url, game["pin"], "Ada")
    await the_host.send({"type": "start"})
    question = await ada.recv("question")
    await ada.send({"type": "answer", "question": question["question"], "option": 1})
    await ada.recv("answer_ack")
    await the_host.recv("reveal", skip=("lobby", "answer_count", "question"))
    await the_host.send({"type": "end"})
    await the_host.recv("finished", skip=("lobby", "answer_count", "leaderboard", "question", "reveal"))
    for client in (the_host, ada):
        await client.close()
    stored = await wait_for(
        f"{exams_server.base_url}/api/me/games", teacher.headers, lambda r: r.status_code == 200 and r.json()["items"]
    )
    assert stored.json()["items"][0]["exam_id"] == exam["id"]


async def test_a_solo_attempt_from_start_to_finish(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, taker, stranger = [await account(sql_target, n) for n in ("setter", "taker", "stranger")]
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner, pass_percent=80, time_limit_s=600)
        url = f"/api/exams/{exam['id']}/attempts"
        closed = await http.post(url, json={"platform": "bot"}, headers=taker.headers)
        assert (closed.status_code, closed.json()["error"]["code"]) == (403, "platform_closed")
        assert (await http.post(url, json={"platform": "fax"}, headers=taker.headers)).status_code == 422
        started = await http.post(url, json={"platform": "web"}, headers=taker.headers)
        assert started.status_code == 201, started.text
        body = started.json()
        assert body["deadline"] and len(body["questions"]) == 5 and body["questions"][4]["extra"] is True
        assert all("correct" not in q and "accepted" not in q for q in body["questions"])
        again = await http.post(url, json={"platform": "web"}, headers=taker.headers)
        assert (again.status_code, again.json()["error"]["code"]) == (409, "attempt_in_progress")
        attempt = f"/api/attempts/{body['id']}"
        for n, answer in [
            (0, {"option": 1}),
            (1, {"options": [0, 1, 3]}),
            (2, {"text": " paris "}),
            (4, {"option": 1}),
        ]:
            put = await http.put(f"{attempt}/answers/{n}", json=answer, headers=taker.headers)
            assert put.status_code == 204, put.text
        wrong_shape = await http.put(f"{attempt}/answers/0", json={"text": "4"}, headers=taker.headers)
        assert (wrong_shape.status_code, wrong_shape.json()["error"]["code"]) == (422, "invalid")
        assert (await http.put(f"{attempt}/answers/7", json={"option": 0}, headers=taker.headers)).status_code == 422
        assert (await http.put(f"{attempt}/answers/0", json={"option": 0}, headers=stranger.headers)).status_code == 404
        early = await http.get(f"{attempt}/answers/0", headers=taker.headers)
        assert early.json()["error"]["code"] == "feedback_at_end"
        finished = await http.post(f"{attempt}/finish", headers=taker.headers)
        assert finished.status_code == 200
        assert finished.json() == {
            "score": 4,
            "max": 5,
            "percent": 80.0,
            "passed": True,
            "state": "finished",
            "ended_by": "finish",
        }
        late = await http.put(f"{attempt}/answers/4", json={"option": 0}, headers=taker.headers)
        assert (late.status_code, late.json()["error"]["code"]) == (409, "attempt_closed")
        assert (await http.get(attempt, headers=stranger.headers)).status_code == 404
        seen = (await http.get(attempt, headers=owner.headers)).json()
        assert seen["user_id"] == taker.user_id and seen["result"]["score"] == 4 and len(seen["answers"]) == 4
        listed = (await http.get(f"/api/exams/{exam['id']}/attempts", headers=owner.headers)).json()
        assert [a["id"] for a in listed["items"]] == [body["id"]]
        assert (await http.get(f"/api/exams/{exam['id']}/attempts", headers=taker.headers)).status_code == 403
        mine = (await http.get("/api/me/attempts", headers=taker.headers)).json()
        assert mine["items"][0]["result"]["passed"] is True


async def test_the_server_finishes_an_attempt_past_its_deadline(
    exams_server: ServerProcess, sql_target: SqlTarget
) -> None:
    owner, taker = await account(sql_target, "clock"), await account(sql_target, "slow")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner, time_limit_s=60)
        body = (
            await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"}, headers=taker.headers)
        ).json()
        attempt = f"/api/attempts/{body['id']}"
        assert (await http.put(f"{attempt}/answers/0", json={"option": 1}, headers=taker.headers)).status_code == 204
        db = Database(sql_target.url, schema=sql_target.schema)
        try:  # the clock passes the deadline
            async with db.transaction() as session:
                await session.exec(
                    update(Attempt)
                    .where(col(Attempt.id) == body["id"])
                    .values(deadline=utcnow() - timedelta(seconds=1))
                )
        finally:
            await db.dispose()
        late = await http.put(f"{attempt}/answers/2", json={"text": "Paris"}, headers=taker.headers)
        assert (late.status_code, late.json()["error"]["code"]) == (409, "attempt_closed")
        seen = (await http.get(attempt, headers=owner.headers)).json()
        assert seen["state"] == "finished" and seen["result"]["ended_by"] == "deadline"
        assert seen["result"]["score"] == 2  # question 0 and the free question
        restarted = await http.post(
            f"/api/exams/{exam['id']}/attempts", json={"platform": "web"}, headers=taker.headers
        )
        assert restarted.status_code == 201


async def test_leaving_fullscreen_ends_the_attempt_with_zero(
    exams_server: ServerProcess, sql_target: SqlTarget
) -> None:
    owner, taker = await account(sql_target, "proctor"), await account(sql_target, "candidate")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner, proctoring={"fullscreen": True})
        body = (
            await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"}, headers=taker.headers)
        ).json()
        attempt = f"/api/attempts/{body['id']}"
        await http.put(f"{attempt}/answers/0", json={"option": 1}, headers=taker.headers)
        bad = await http.post(f"{attempt}/events", json={"type": "nap"}, headers=taker.headers)
        assert bad.status_code == 422
        ended = await http.post(f"{attempt}/events", json={"type": "fullscreen_exit"}, headers=taker.headers)
        assert ended.json() == {"ended": True, "state": "finished"}
        result = (await http.post(f"{attempt}/finish", headers=taker.headers)).json()
        assert (result["score"], result["percent"], result["passed"], result["ended_by"]) == (
            0,
            0.0,
            False,
            "fullscreen_exit",
        )
        seen = (await http.get(attempt, headers=owner.headers)).json()
        assert seen["proctoring"]["violations"] == 1


async def test_attempts_join_the_data_export(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, taker = await account(sql_target, "exporter"), await account(sql_target, "exported")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner, proctoring={"fullscreen": True})
        body = (
            await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"}, headers=taker.headers)
        ).json()
        await http.put(f"/api/attempts/{body['id']}/answers/2", json={"text": "Paris"}, headers=taker.headers)
        await http.post(f"/api/attempts/{body['id']}/events", json={"type": "fullscreen_exit"}, headers=taker.headers)
        exported = await http.get("/api/me/export", headers=taker.headers)
        assert exported.status_code == 200, exported.text
        [attempt] = exported.json()["attempts"]
        assert attempt["exam_title"] == "Mixed exam" and attempt["ended_by"] == "fullscreen_exit"
        assert attempt["answers"][0]["n"] == 2 and attempt["answers"][0]["text"] == "Paris"
        assert attempt["proctoring"][0]["type"] == "fullscreen_exit" and attempt["proctoring"][0]["violation"]
        assert (await http.get("/api/me/export", headers=owner.headers)).json()["attempts"] == []


AIKEN = b"""Capital of Uzbekistan?
A. Samarkand
B. Tashkent
ANSWER: B

2 + 2?
A. 4
B. 5
ANSWER: A
"""


async def test_a_quiz_file_becomes_an_inactive_exam(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner = await account(sql_target, "importer")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        assert (await http.post("/api/exams/import?filename=q.aiken", content=AIKEN)).status_code == 401
        made = await http.post("/api/exams/import?filename=Capitals.aiken", content=AIKEN, headers=owner.headers)
        assert made.status_code == 201, made.text
        exam = made.json()["exam"]
        assert (exam["title"], exam["active"], exam["owner"], made.json()["skipped"]) == (
            "Capitals",
            False,
            owner.user_id,
            0,
        )
        assert [q["correct"] for q in exam["questions"]] == [1, 0]
        assert exam["questions"][0]["options"] == ["Samarkand", "Tashkent"]
        gift = b"::Sky:: The sky is {=blue ~green ~red}\n"
        made_gift = await http.post("/api/exams/import?filename=sky.gift", content=gift, headers=owner.headers)
        assert made_gift.status_code == 201 and made_gift.json()["exam"]["questions"][0]["correct"] == 0
        bad = await http.post("/api/exams/import?filename=x.txt", content=b"hello", headers=owner.headers)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "unsupported_format")
        started = await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"}, headers=owner.headers)
        assert started.json()["error"]["code"] == "platform_closed"  # inactive until its owner switches it on
