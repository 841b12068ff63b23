"""Scheduled Speaking over HTTP (issue 21): publishing, listing, booking and cancelling slots,
and each refusal, against a real server process on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.platform_support import Account, make_account, platform_server
from tests.speaking_support import iso_in, publish, scheduled_exam
from tests.sql_support import SqlTarget, sql_targets
from tests.support import ServerProcess


@pytest.fixture(scope="module", params=sql_targets())
def sql_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with request.param.prepared(tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def speaking_server(
    sql_target: SqlTarget, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[ServerProcess]:
    with platform_server(sql_target, tmp_path_factory.mktemp("server"), redis_url) as server:
        yield server


_names = iter(range(1_000_000))


async def account(target: SqlTarget, prefix: str, role: str = "user") -> Account:
    return await make_account(target, f"{prefix}{next(_names)}", role)


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_publishing_is_the_owners_and_checked(speaking_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, stranger = await account(sql_target, "owner"), await account(sql_target, "stranger")
    admin = await account(sql_target, "admin", role="admin")
    async with httpx.AsyncClient(base_url=speaking_server.base_url) as http:
        exam_id = await scheduled_exam(http, owner)
        url = f"/api/exams/{exam_id}/speaking-slots"
        good = {"starts_at": iso_in(60), "duration_min": 15}
        assert code_of(await http.post(url, json=good)) == (401, "unauthorized")
        assert code_of(await http.post(url, json=good, headers=stranger.headers)) == (403, "forbidden")
        for body, loc in (
            ({"starts_at": iso_in(-5), "duration_min": 15}, "starts_at"),
            ({"starts_at": "tomorrow", "duration_min": 15}, "starts_at"),
            ({"starts_at": iso_in(60).rstrip("Z"), "duration_min": 15}, "starts_at"),
            ({"starts_at": iso_in(60), "duration_min": 4}, "duration_min"),
            ({"starts_at": iso_in(60), "duration_min": 61}, "duration_min"),
            ({"starts_at": iso_in(60), "duration_min": "15"}, "duration_min"),
        ):
            refused = await http.post(url, json=body, headers=owner.headers)
            assert code_of(refused) == (422, "invalid"), body
            assert refused.json()["error"]["details"][0]["loc"] == ["body", loc]
        first = (await http.post(url, json=good, headers=owner.headers)).json()
        assert first["state"] == "free" and first["duration_min"] == 15 and first["candidate"] is None
        overlap = await http.post(url, json={"starts_at": iso_in(70), "duration_min": 30}, headers=owner.headers)
        assert code_of(overlap) == (409, "slot_overlap")
        assert overlap.json()["error"]["details"][0]["slot_id"] == first["id"]
        by_admin = await http.post(url, json={"starts_at": iso_in(120), "duration_min": 5}, headers=admin.headers)
        assert by_admin.status_code == 201, by_admin.text  # an admin publishes; the owner is the grader
        async_exam = await scheduled_exam(http, owner, speaking_mode="async")
        wrong_mode = await http.post(f"/api/exams/{async_exam}/speaking-slots", json=good, headers=owner.headers)
        assert code_of(wrong_mode) == (409, "speaking_not_scheduled")
        listed = await http.get(f"/api/exams/{async_exam}/speaking-slots", headers=owner.headers)
        assert code_of(listed) == (409, "speaking_not_scheduled")
        assert code_of(await http.post("/api/exams/99999/speaking-slots", json=good,
                                       headers=owner.headers)) == (404, "not_found")
        assert code_of(await http.delete(f"/api/speaking-slots/{first['id']}",
                                         headers=stranger.headers)) == (403, "forbidden")
        assert (await http.delete(f"/api/speaking-slots/{first['id']}", headers=owner.headers)).status_code == 204
        assert code_of(await http.delete(f"/api/speaking-slots/{first['id']}",
                                         headers=owner.headers)) == (404, "not_found")


async def test_booking_listing_and_cancelling(speaking_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner = await account(sql_target, "grader")
    ada, bob, eve = [await account(sql_target, name) for name in ("ada", "bob", "eve")]
    async with httpx.AsyncClient(base_url=speaking_server.base_url) as http:
        exam_id = await scheduled_exam(http, owner)
        early, late = await publish(http, owner, exam_id, 60), await publish(http, owner, exam_id, 120)
        url = f"/api/exams/{exam_id}/speaking-slots"
        assert code_of(await http.get(url)) == (401, "unauthorized")
        free = (await http.get(url, headers=ada.headers)).json()
        assert [s["id"] for s in free["items"]] == [early["id"], late["id"]] and free["next_cursor"] is None
        assert "candidate" not in free["items"][0]
        booking = f"/api/speaking-slots/{early['id']}/booking"
        booked = await http.post(booking, headers=ada.headers)
        assert booked.status_code == 201 and booked.json()["state"] == "booked"
        assert code_of(await http.post(booking, headers=bob.headers)) == (409, "slot_taken")
        assert code_of(await http.post(booking, headers=ada.headers)) == (409, "already_booked")
        other = await http.post(f"/api/speaking-slots/{late['id']}/booking", headers=ada.headers)
        assert code_of(other) == (409, "already_booked")
        assert code_of(await http.post(f"/api/speaking-slots/{late['id']}/booking",
                                       headers=owner.headers)) == (403, "forbidden")
        assert code_of(await http.post("/api/speaking-slots/424242/booking", headers=bob.headers)) == (404, "not_found")
        # Bob sees only the free one; the owner sees both, with Ada's name on hers.
        assert [s["id"] for s in (await http.get(url, headers=bob.headers)).json()["items"]] == [late["id"]]
        everything = (await http.get(url, headers=owner.headers)).json()["items"]
        assert [(s["state"], s["candidate"]) for s in everything] == [
            ("booked", {"id": ada.user_id, "name": ada.username.title()}), ("free", None)]
        paged = (await http.get(url + "?limit=1", headers=owner.headers)).json()
        rest = (await http.get(url + f"?limit=1&cursor={paged['next_cursor']}", headers=owner.headers)).json()
        assert [s["id"] for s in paged["items"] + rest["items"]] == [early["id"], late["id"]]
        mine = (await http.get("/api/me/speaking-slots", headers=ada.headers)).json()["items"]
        assert [(s["id"], s["role"], s["with"]) for s in mine] == [(early["id"], "candidate", owner.username.title())]
        graders = (await http.get("/api/me/speaking-slots", headers=owner.headers)).json()["items"]
        assert [(s["id"], s["role"], s["with"]) for s in graders] == [(early["id"], "grader", ada.username.title())]
        assert (await http.get("/api/me/speaking-slots", headers=eve.headers)).json()["items"] == []
        detail = await http.get(f"/api/speaking-slots/{early['id']}", headers=ada.headers)
        assert detail.json()["role"] == "candidate" and detail.json()["grader"] == owner.username.title()
        assert code_of(await http.get(f"/api/speaking-slots/{early['id']}", headers=eve.headers)) == (404, "not_found")
        # Only Ada cancels Ada's booking; then the slot is free again.
        assert code_of(await http.delete(booking, headers=bob.headers)) == (404, "not_found")
        assert (await http.delete(booking, headers=ada.headers)).status_code == 204
        assert (await http.post(booking, headers=bob.headers)).status_code == 201
        # Switched to uploads, the exam takes no more bookings.
        assert (await http.patch(f"/api/exams/{exam_id}", json={"speaking_mode": "async"},
                                 headers=owner.headers)).status_code == 200
        assert code_of(await http.post(f"/api/speaking-slots/{late['id']}/booking",
                                       headers=eve.headers)) == (409, "speaking_not_scheduled")


async def test_bad_bodies_and_ids_are_refused(
    speaking_server: ServerProcess, sql_target: SqlTarget
) -> None:
    owner = await account(sql_target, "csrf")
    async with httpx.AsyncClient(base_url=speaking_server.base_url) as http:
        exam_id = await scheduled_exam(http, owner)
        url = f"/api/exams/{exam_id}/speaking-slots"
        not_json = await http.post(url, content=b"{", headers=owner.headers | {"Content-Type": "application/json"})
        assert code_of(not_json) == (422, "invalid")
        assert code_of(await http.get(url + "?limit=0", headers=owner.headers)) == (422, "invalid")
        assert code_of(await http.get("/api/speaking-slots/99999999999", headers=owner.headers)) == (404, "not_found")


async def test_a_paid_exams_slot_needs_a_paid_attempt(speaking_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, payer, freeloader = [await account(sql_target, name) for name in ("owner", "payer", "freeloader")]
    admin = await account(sql_target, "admin", role="admin")
    async with httpx.AsyncClient(base_url=speaking_server.base_url) as http:
        exam_id = await scheduled_exam(http, owner, price=3000)
        first, second, third = [await publish(http, owner, exam_id, minutes) for minutes in (60, 120, 180)]
        refused = await http.post(f"/api/speaking-slots/{first['id']}/booking", headers=freeloader.headers)
        assert code_of(refused) == (402, "payment_required")
        assert refused.json()["error"]["details"][0]["exam_id"] == exam_id
        bonus = await http.post(f"/api/admin/users/{payer.user_id}/bonus", json={"amount": 3000, "reason": "test"},
                                headers=admin.headers | {"Idempotency-Key": f"bonus-{payer.user_id}"})
        assert bonus.status_code in (200, 201), bonus.text
        started = await http.post(f"/api/exams/{exam_id}/attempts", json={"platform": "web"},
                                  headers=payer.headers | {"Idempotency-Key": f"start-{payer.user_id}"})
        assert started.status_code == 201, started.text
        for slot, who in ((first, payer), (second, admin)):  # the payer, and an admin (exempt)
            booked = await http.post(f"/api/speaking-slots/{slot['id']}/booking", headers=who.headers)
            assert booked.status_code == 201, booked.text
        assert code_of(await http.post(f"/api/speaking-slots/{third['id']}/booking",
                                       headers=freeloader.headers)) == (402, "payment_required")
