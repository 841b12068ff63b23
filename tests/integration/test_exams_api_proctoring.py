"""Proctoring snapshots and paid starts over HTTP, against a real server, a real Redis, and
SQLite and PostgreSQL: faces counted on the server, paid exams paying once per key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from persistence.db import Database
from persistence.exams import faces
from persistence.wallet.queries import balances
from persistence.wallet.service import grant_admin_bonus
from tests.integration.test_exams_api import account, create
from tests.persistence.exam_bodies import portrait_jpegs
from tests.platform_support import platform_server
from tests.sql_support import SqlTarget, sql_targets
from tests.support import ServerProcess

JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(scope="module", params=sql_targets())
def sql_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with request.param.prepared(tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def exams_server(sql_target: SqlTarget, data_dir: Path, redis_url: str) -> Iterator[ServerProcess]:
    with platform_server(sql_target, data_dir, redis_url) as server:
        yield server


async def test_snapshots_are_counted_on_the_server_and_violations_shown_to_the_owner(
    exams_server: ServerProcess, sql_target: SqlTarget, data_dir: Path
) -> None:
    owner, taker = await account(sql_target, "watcher"), await account(sql_target, "watched")
    pictures = portrait_jpegs()
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner, proctoring={"camera": True})
        body = (
            await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"}, headers=taker.headers)
        ).json()
        url = f"/api/attempts/{body['id']}/snapshots"
        counted = {}
        for name in ("one", "two", "none"):
            sent = await http.post(url, content=pictures[name], headers=taker.headers | JPEG)
            assert sent.status_code == 201, sent.text
            counted[name] = sent.json()
        assert [(c["face_count"], c["violation"]) for c in counted.values()] == [(1, False), (2, True), (0, True)]
        # What the client claims is kept as a claim, never as the count.
        claim = await http.post(
            f"/api/attempts/{body['id']}/events", json={"type": "snapshot", "face_count": 1}, headers=taker.headers
        )
        assert claim.json()["ended"] is False
        png = await http.post(url, content=b"\x89PNG\r\n\x1a\n" + b"0" * 64, headers=taker.headers | JPEG)
        assert (png.status_code, png.json()["error"]["code"]) == (422, "invalid")
        wrong_type = await http.post(
            url, content=pictures["one"], headers=taker.headers | {"Content-Type": "image/png"}
        )
        assert wrong_type.status_code == 415
        huge = await http.post(url, content=b"\xff\xd8\xff" + b"0" * faces.MAX_BYTES, headers=taker.headers | JPEG)
        assert (huge.status_code, huge.json()["error"]["code"]) == (413, "too_large")
        stranger = await http.post(url, content=pictures["one"], headers=owner.headers | JPEG)
        assert stranger.status_code == 404
        seen = (await http.get(f"/api/attempts/{body['id']}", headers=owner.headers)).json()
        assert seen["proctoring"]["violations"] == 2
        server_counted = [e for e in seen["proctoring"]["events"] if e["source"] == "server"]
        assert [e["face_count"] for e in server_counted] == [1, 2, 0]
        listed = (await http.get(f"/api/exams/{exam['id']}/attempts", headers=owner.headers)).json()
        assert listed["items"][0]["violations"] == 2
        picture = await http.get(f"{url}/{counted['two']['id']}", headers=owner.headers)
        assert picture.status_code == 200 and picture.content == pictures["two"]
        assert picture.headers["content-type"] == "image/jpeg"
        assert len(list((data_dir / "snapshots").rglob("*.jpg"))) >= 3
        other = await account(sql_target, "nosy")
        assert (await http.get(f"{url}/{counted['two']['id']}", headers=other.headers)).status_code == 404
        await http.post(f"/api/attempts/{body['id']}/finish", headers=taker.headers)
        after = await http.post(url, content=pictures["one"], headers=taker.headers | JPEG)
        assert (after.status_code, after.json()["error"]["code"]) == (409, "attempt_closed")


async def test_snapshots_only_on_camera_exams(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, taker = await account(sql_target, "plain"), await account(sql_target, "plainer")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner)
        body = (
            await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"}, headers=taker.headers)
        ).json()
        refused = await http.post(
            f"/api/attempts/{body['id']}/snapshots", content=portrait_jpegs()["one"], headers=taker.headers | JPEG
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "camera_not_required")


async def test_a_paid_start_pays_once_per_key(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, taker = await account(sql_target, "seller"), await account(sql_target, "buyer")
    admin = await account(sql_target, "banker")
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        exam = await create(http, owner, price=7000)
        url = f"/api/exams/{exam['id']}/attempts"
        no_key = await http.post(url, json={"platform": "web"}, headers=taker.headers)
        assert (no_key.status_code, no_key.json()["error"]["code"]) == (400, "idempotency_key_required")
        poor = await http.post(url, json={"platform": "web"}, headers=taker.headers | {"Idempotency-Key": "poor-1"})
        assert (poor.status_code, poor.json()["error"]["code"]) == (402, "insufficient_funds")
        db = Database(sql_target.url, schema=sql_target.schema)
        try:
            async with db.transaction() as session:
                await grant_admin_bonus(session, admin.user_id, taker.user_id, 10_000, "test")
            key = taker.headers | {"Idempotency-Key": "start-1"}
            first = await http.post(url, json={"platform": "web"}, headers=key)
            assert first.status_code == 201, first.text
            replay = await http.post(url, json={"platform": "web"}, headers=key)
            assert replay.status_code == 201 and replay.json()["id"] == first.json()["id"]
            mismatch = await http.post(url, json={"platform": "mobile"}, headers=key)
            assert (mismatch.status_code, mismatch.json()["error"]["code"]) == (409, "idempotency_mismatch")
            busy = await http.post(url, json={"platform": "web"}, headers=taker.headers | {"Idempotency-Key": "s-2"})
            assert (busy.status_code, busy.json()["error"]["code"]) == (409, "attempt_in_progress")
            async with db.session() as session:
                assert (await balances(session, taker.user_id))["bonus"] == 3000  # paid once
                assert (await balances(session, owner.user_id))["earnings"] == 7000
        finally:
            await db.dispose()
        seen = (await http.get(f"/api/attempts/{first.json()['id']}", headers=owner.headers)).json()
        assert seen["paid"] == 7000


async def test_a_trainer_shows_each_result_at_once(exams_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, taker = await account(sql_target, "coach"), await account(sql_target, "learner")
    questions = [{"type": "select_one", "text": f"Q{i}", "options": ["a", "b"], "correct": i % 2} for i in range(12)]
    async with httpx.AsyncClient(base_url=exams_server.base_url) as http:
        made = await http.post(
            "/api/exams",
            json={
                "title": "Trainer",
                "mode": "trainer",
                "price": 900,
                "free_question_limit": 10,
                "questions": questions,
            },
            headers=owner.headers,
        )
        assert made.status_code == 201, made.text
        exam_id = made.json()["id"]
        # The free version: the first 10 questions, no payment, no key needed.
        body = (
            await http.post(
                f"/api/exams/{exam_id}/attempts", json={"platform": "web", "preview": True}, headers=taker.headers
            )
        ).json()
        assert sorted(q["n"] for q in body["questions"]) == list(range(10))
        n = body["questions"][0]["n"]
        await http.put(f"/api/attempts/{body['id']}/answers/{n}", json={"option": 0}, headers=taker.headers)
        feedback = (await http.get(f"/api/attempts/{body['id']}/answers/{n}", headers=taker.headers)).json()
        assert feedback == {"n": n, "answer": {"option": 0}, "correct": n % 2 == 0, "expected": {"option": n % 2}}
        result = (await http.post(f"/api/attempts/{body['id']}/finish", headers=taker.headers)).json()
        assert result["max"] == 10
