"""The IELTS/CEFR HTTP contract (PLATFORM.md "IELTS and CEFR") against a real server process,
a real Redis, and SQLite and PostgreSQL: an attempt from answers and a recording to a graded
overall band, the release rule, every refusal of 000 §12's privacy, and the upload's bounds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from persistence.ielts.audio import MAX_AUDIO_BYTES
from tests.integration.test_exams_api import account
from tests.persistence.ielts_bodies import M4A, MP3, OGG, PNG, SPEAKING, WAV, WEBM, WRITING, four_skills_exam
from tests.platform_support import Account, make_account, platform_server
from tests.sql_support import SqlTarget, sql_targets
from tests.support import ServerProcess

ANSWERS: dict[int, dict[str, Any]] = {0: {"option": 1}, 1: {"option": 1}, 2: {"text": "Bukhara"},
                                      3: {"text": "zarafshan "}, WRITING: {"text": "Cities need parks because..."}}


@pytest.fixture(scope="module", params=sql_targets())
def sql_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with request.param.prepared(tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def data_dir(sql_target: SqlTarget, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(f"server-{sql_target.backend}")  # ids restart per backend


@pytest.fixture(scope="module")
def ielts_server(sql_target: SqlTarget, data_dir: Path, redis_url: str) -> Iterator[ServerProcess]:
    with platform_server(sql_target, data_dir, redis_url) as server:
        yield server


async def _exam(http: httpx.AsyncClient, owner: Account, kind: str = "ielts_academic", **settings: Any) -> int:
    created = await http.post("/api/exams", json=four_skills_exam(kind, **settings), headers=owner.headers)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def _start(http: httpx.AsyncClient, exam_id: int, taker: Account) -> int:
    started = await http.post(f"/api/exams/{exam_id}/attempts", json={"platform": "web"}, headers=taker.headers)
    assert started.status_code == 201, started.text
    return int(started.json()["id"])


def _upload(http: httpx.AsyncClient, attempt_id: int, n: int, who: Account, data: bytes,
            name: str = "answer.webm", field: str = "file") -> Any:
    return http.post(f"/api/attempts/{attempt_id}/audio", params={"n": n}, headers=who.headers,
                     files={field: (name, data, "audio/webm")})


async def test_an_ielts_attempt_from_recording_to_overall_band(
    ielts_server: ServerProcess, sql_target: SqlTarget, data_dir: Path
) -> None:
    owner, taker, grader = [await account(sql_target, p) for p in ("owner", "taker", "grader")]
    async with httpx.AsyncClient(base_url=ielts_server.base_url, timeout=60) as http:
        exam_id = await _exam(http, owner)
        assert (await http.get(f"/api/exams/{exam_id}", headers=owner.headers)).json()["speaking_mode"] == "async"
        attempt_id = await _start(http, exam_id, taker)
        for n, body in ANSWERS.items():
            put = await http.put(f"/api/attempts/{attempt_id}/answers/{n}", json=body, headers=taker.headers)
            assert put.status_code == 204, put.text
        sent = await _upload(http, attempt_id, SPEAKING[0], taker, WEBM)
        assert (sent.status_code, sent.json()) == (201, {"n": SPEAKING[0], "content_type": "audio/webm",
                                                         "size": len(WEBM)})
        folder = data_dir / "ielts" / "audio" / str(exam_id) / str(attempt_id)  # the local blob store's layout
        stored = [path for path in folder.iterdir() if not path.name.startswith(".")]
        assert [p.read_bytes() for p in stored] == [WEBM]
        for data, kind in ((OGG, "audio/ogg"), (WAV, "audio/wav"), (MP3, "audio/mpeg"), (M4A, "audio/mp4")):
            other = await _upload(http, attempt_id, SPEAKING[1], taker, data, name="a.bin")
            assert other.json()["content_type"] == kind  # by the bytes, whatever the part's header says
        heard = await http.get(f"/api/attempts/{attempt_id}/audio/{SPEAKING[0]}", headers=taker.headers)
        assert (heard.status_code, heard.headers["content-type"], heard.content) == (200, "audio/webm", WEBM)
        url = f"/api/attempts/{attempt_id}/audio/{SPEAKING[0]}"
        part = await http.get(url, headers=taker.headers | {"Range": "bytes=4-13"})
        assert (part.status_code, part.content, part.headers["content-range"]) == (206, WEBM[4:14],
                                                                                   f"bytes 4-13/{len(WEBM)}")
        tail = await http.get(url, headers=taker.headers | {"Range": "bytes=-5"})
        assert (tail.status_code, tail.content) == (206, WEBM[-5:])
        beyond = await http.get(url, headers=taker.headers | {"Range": f"bytes={len(WEBM)}-"})
        assert (beyond.status_code, beyond.json()["error"]["code"]) == (416, "range_not_satisfiable")
        finished = (await http.post(f"/api/attempts/{attempt_id}/finish", headers=taker.headers)).json()
        # 1 of 2 listening = 20/40 (5.5); 2 of 2 reading = 40/40 (9.0).
        assert finished["bands"] == {"listening": 5.5, "reading": 9.0, "writing": None, "speaking": None}
        assert finished["raw"] == {"listening": 20, "reading": 40}
        assert (finished["overall"], finished["cefr"]) == (None, None)

        added = await http.post(f"/api/exams/{exam_id}/graders", json={"user_id": grader.user_id},
                                headers=owner.headers)
        assert (added.status_code, added.json()) == (201, {"user_id": grader.user_id, "name": grader.username.title()})
        listed = (await http.get(f"/api/exams/{exam_id}/graders", headers=owner.headers)).json()
        assert listed == {"items": [{"user_id": grader.user_id, "name": grader.username.title()}]}
        queue = (await http.get("/api/grading", headers=grader.headers)).json()
        assert [(i["attempt_id"], i["awaiting"], i["candidate"], i["kind"]) for i in queue["items"]] == [
            (attempt_id, ["writing", "speaking"], taker.username.title(), "ielts_academic")]
        seen = (await http.get(f"/api/attempts/{attempt_id}", headers=grader.headers)).json()
        answers = {a["n"]: a for a in seen["answers"]}
        assert answers[WRITING]["text"] == ANSWERS[WRITING]["text"]
        assert answers[SPEAKING[0]] == {"n": SPEAKING[0], "audio": True, "content_type": "audio/webm",
                                        "size": len(WEBM)}
        assert (await http.get(f"/api/attempts/{attempt_id}/audio/{SPEAKING[0]}", headers=grader.headers)).content \
            == WEBM

        graded = await http.post(f"/api/attempts/{attempt_id}/grades", headers=grader.headers,
                                 json={"section": "writing", "band": 6.5, "comment": "Clear position."})
        assert graded.status_code == 200, graded.text
        assert graded.json()["bands"]["writing"] == 6.5 and graded.json()["overall"] is None
        mine = (await http.get(f"/api/attempts/{attempt_id}", headers=taker.headers)).json()["result"]
        assert (mine["bands"]["writing"], mine["comments"]["writing"], mine["overall"]) == (6.5, "Clear position.",
                                                                                            None)
        assert (await http.get("/api/grading", headers=owner.headers)).json()["items"][0]["awaiting"] == ["speaking"]
        spoken = await http.post(f"/api/attempts/{attempt_id}/grades", headers=owner.headers,
                                 json={"section": "speaking", "band": 7.0, "comment": ""})
        assert (spoken.json()["overall"], spoken.json()["cefr"]) == (7.0, "C1")  # (5.5+9+6.5+7)/4
        mine = (await http.get(f"/api/attempts/{attempt_id}", headers=taker.headers)).json()["result"]
        assert (mine["overall"], mine["cefr"]) == (7.0, "C1")
        assert (await http.get("/api/grading", headers=grader.headers)).json() == {"items": [], "next_cursor": None}
        removed = await http.delete(f"/api/exams/{exam_id}/graders/{grader.user_id}", headers=owner.headers)
        assert removed.status_code == 204
        gone = await http.get(f"/api/attempts/{attempt_id}/audio/{SPEAKING[0]}", headers=grader.headers)
        assert (gone.status_code, gone.json()["error"]["code"]) == (403, "forbidden")


async def test_each_privacy_refusal(ielts_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, taker, stranger = [await account(sql_target, p) for p in ("owner", "taker", "stranger")]
    async with httpx.AsyncClient(base_url=ielts_server.base_url, timeout=60) as http:
        exam_id = await _exam(http, owner)
        attempt_id = await _start(http, exam_id, taker)
        assert (await _upload(http, attempt_id, SPEAKING[0], taker, WEBM)).status_code == 201
        await http.put(f"/api/attempts/{attempt_id}/answers/{WRITING}", json={"text": "my essay"},
                       headers=taker.headers)
        await http.post(f"/api/attempts/{attempt_id}/finish", headers=taker.headers)
        audio_url = f"/api/attempts/{attempt_id}/audio/{SPEAKING[0]}"

        def code(response: httpx.Response) -> tuple[int, str]:
            return response.status_code, response.json()["error"]["code"]

        assert code(await http.get(audio_url)) == (401, "unauthorized")
        assert code(await http.get(audio_url, headers=stranger.headers)) == (403, "forbidden")
        assert (await http.get(audio_url, headers=owner.headers)).content == WEBM
        assert code(await http.get(f"/api/attempts/{attempt_id}", headers=stranger.headers)) == (404, "not_found")
        grade = {"section": "writing", "band": 9.0, "comment": "self-graded"}
        for who in (stranger, taker):  # the candidate grades nothing either
            refused = await http.post(f"/api/attempts/{attempt_id}/grades", json=grade, headers=who.headers)
            assert code(refused) == (403, "forbidden")
        assert code(await http.post(f"/api/attempts/{attempt_id}/grades", json=grade)) == (401, "unauthorized")
        assert (await http.get("/api/grading", headers=stranger.headers)).json()["items"] == []
        assert (await http.get("/api/grading", headers=taker.headers)).json()["items"] == []
        assert code(await http.get("/api/grading")) == (401, "unauthorized")
        graders = f"/api/exams/{exam_id}/graders"
        for who in (stranger, taker):
            assert code(await http.post(graders, json={"user_id": who.user_id}, headers=who.headers)) == \
                (403, "forbidden")
            assert code(await http.get(graders, headers=who.headers)) == (403, "forbidden")
            assert code(await http.delete(f"{graders}/{owner.user_id}", headers=who.headers)) == (403, "forbidden")
        result = (await http.get(f"/api/attempts/{attempt_id}", headers=taker.headers)).json()["result"]
        assert result["bands"]["writing"] is None  # no refused grade landed
        admin = await make_account(sql_target, f"admin{stranger.username}", role="admin")
        assert (await http.get(audio_url, headers=admin.headers)).status_code == 200


async def test_upload_refusals_and_bounds(ielts_server: ServerProcess, sql_target: SqlTarget) -> None:
    owner, taker = await account(sql_target, "owner"), await account(sql_target, "taker")
    async with httpx.AsyncClient(base_url=ielts_server.base_url, timeout=120) as http:
        exam_id = await _exam(http, owner)
        attempt_id = await _start(http, exam_id, taker)

        def code(response: httpx.Response) -> tuple[int, str]:
            return response.status_code, response.json()["error"]["code"]

        assert code(await _upload(http, attempt_id, SPEAKING[0], owner, WEBM)) == (404, "not_found")
        assert code(await _upload(http, attempt_id, WRITING, taker, WEBM)) == (422, "invalid")
        assert code(await _upload(http, attempt_id, SPEAKING[0], taker, WEBM, field="audio")) == (422, "invalid")
        assert code(await _upload(http, attempt_id, SPEAKING[0], taker, PNG)) == (415, "unsupported_media_type")
        huge = WEBM + bytes(MAX_AUDIO_BYTES + 1 - len(WEBM))
        assert code(await _upload(http, attempt_id, SPEAKING[0], taker, huge)) == (413, "too_large")


        async def chunked() -> Any:  # no Content-Length: the bound holds while reading
            yield WEBM
            for _ in range(MAX_AUDIO_BYTES // 65536 + 4):
                yield bytes(65536)

        streamed = await http.post(f"/api/attempts/{attempt_id}/audio", params={"n": SPEAKING[0]}, content=chunked(),
                                   headers=taker.headers | {"Content-Type": "audio/webm"})
        assert code(streamed) == (413, "too_large")
        exact = WEBM + bytes(MAX_AUDIO_BYTES - len(WEBM))
        assert (await _upload(http, attempt_id, SPEAKING[0], taker, exact)).json()["size"] == MAX_AUDIO_BYTES
        raw = await http.post(f"/api/attempts/{attempt_id}/audio", params={"n": SPEAKING[1]}, content=OGG,
                              headers=taker.headers | {"Content-Type": "audio/ogg"})
        assert raw.status_code == 201 and raw.json()["content_type"] == "audio/ogg"
        early = await http.post(f"/api/attempts/{attempt_id}/grades", json={"section": "writing", "band": 6},
                                headers=owner.headers)
        assert code(early) == (409, "attempt_not_finished")
        await http.post(f"/api/attempts/{attempt_id}/finish", headers=taker.headers)
        assert code(await _upload(http, attempt_id, SPEAKING[0], taker, WEBM)) == (409, "attempt_closed")
        for bad in ({"section": "writing", "band": 6.25}, {"section": "writing", "band": 9.5},
                    {"section": "reading", "band": 6}, {"section": "writing", "band": "6"},
                    {"section": "writing", "band": 6, "comment": "x" * 5001}):
            assert code(await http.post(f"/api/attempts/{attempt_id}/grades", json=bad, headers=owner.headers)) == \
                (422, "invalid")
        missing = await http.post("/api/exams/999999/graders", json={"user_id": taker.user_id}, headers=owner.headers)
        assert code(missing) == (404, "not_found")
        nobody = await http.post(f"/api/exams/{exam_id}/graders", json={"email": "nobody@example.com"},
                                 headers=owner.headers)
        assert code(nobody) == (404, "not_found")
        scheduled = await _exam(http, owner, speaking_mode="scheduled")
        live_attempt = await _start(http, scheduled, taker)
        assert code(await _upload(http, live_attempt, SPEAKING[0], taker, WEBM)) == (422, "invalid")


async def test_a_cefr_attempt_gets_its_level_once_both_are_graded(
    ielts_server: ServerProcess, sql_target: SqlTarget
) -> None:
    owner, taker = await account(sql_target, "owner"), await account(sql_target, "taker")
    async with httpx.AsyncClient(base_url=ielts_server.base_url, timeout=60) as http:
        exam_id = await _exam(http, owner, "cefr")
        attempt_id = await _start(http, exam_id, taker)
        for n, body in ANSWERS.items():
            await http.put(f"/api/attempts/{attempt_id}/answers/{n}", json=body, headers=taker.headers)
        result = (await http.post(f"/api/attempts/{attempt_id}/finish", headers=taker.headers)).json()
        assert result["skills"] == {"listening": 50.0, "reading": 100.0, "writing": None, "speaking": None}
        assert (result["cefr"], result["bands"], result["overall"]) == (None, None, None)
        url = f"/api/attempts/{attempt_id}/grades"
        assert (await http.post(url, json={"section": "writing", "band": 6}, headers=owner.headers)).status_code == 422
        await http.post(url, json={"section": "writing", "percent": 70}, headers=owner.headers)
        half = (await http.get(f"/api/attempts/{attempt_id}", headers=taker.headers)).json()["result"]
        assert (half["skills"]["writing"], half["cefr"]) == (70.0, None)
        done = (await http.post(url, json={"section": "speaking", "percent": 60}, headers=owner.headers)).json()
        assert done["cefr"] == "B2"  # (50 + 100 + 70 + 60) / 4 = 70


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_a_recorded_prompt_takes_no_text_and_an_ielts_exam_has_four_skills(
    ielts_server: ServerProcess, sql_target: SqlTarget
) -> None:
    owner, taker = await account(sql_target, "owner"), await account(sql_target, "taker")
    async with httpx.AsyncClient(base_url=ielts_server.base_url, timeout=60) as http:
        exam_id = await _exam(http, owner)
        attempt_id = await _start(http, exam_id, taker)
        text = await http.put(f"/api/attempts/{attempt_id}/answers/{SPEAKING[0]}", json={"text": "I live here."},
                              headers=taker.headers)
        assert _code(text) == (422, "invalid")
        assert text.json()["error"]["details"][0]["type"] == "audio_required"
        answers = (await http.get(f"/api/attempts/{attempt_id}", headers=taker.headers)).json()["answers"]
        assert answers == []
        partial = four_skills_exam()
        partial["sections"] = partial["sections"][:2]
        created = await http.post("/api/exams", json=partial, headers=owner.headers)
        assert _code(created) == (422, "invalid")
        assert created.json()["error"]["details"][0]["type"] == "section_skills"
        assert "missing writing, speaking" in created.json()["error"]["details"][0]["msg"]
        cut = await http.patch(f"/api/exams/{exam_id}", json={"sections": partial["sections"]}, headers=owner.headers)
        assert _code(cut) == (422, "invalid")


async def test_nobody_grades_their_own_attempt_and_lists_carry_bands(
    ielts_server: ServerProcess, sql_target: SqlTarget
) -> None:
    owner, taker = await account(sql_target, "owner"), await account(sql_target, "taker")
    async with httpx.AsyncClient(base_url=ielts_server.base_url, timeout=60) as http:
        exam_id = await _exam(http, owner)
        own = await _start(http, exam_id, owner)
        await http.post(f"/api/attempts/{own}/finish", headers=owner.headers)
        theirs = await _start(http, exam_id, taker)
        for n, body in ANSWERS.items():
            await http.put(f"/api/attempts/{theirs}/answers/{n}", json=body, headers=taker.headers)
        await http.post(f"/api/attempts/{theirs}/finish", headers=taker.headers)
        grade = {"section": "writing", "band": 9.0, "comment": "self-graded"}
        assert _code(await http.post(f"/api/attempts/{own}/grades", json=grade, headers=owner.headers)) == \
            (403, "own_attempt")
        queued = (await http.get("/api/grading", headers=owner.headers)).json()["items"]
        assert [item["attempt_id"] for item in queued] == [theirs]
        for section, band in (("writing", 6.5), ("speaking", 7.0)):
            await http.post(f"/api/attempts/{theirs}/grades", json={"section": section, "band": band},
                            headers=owner.headers)
        single = (await http.get(f"/api/attempts/{theirs}", headers=taker.headers)).json()["result"]
        assert (single["overall"], single["cefr"]) == (7.0, "C1")
        mine = (await http.get("/api/me/attempts", headers=taker.headers)).json()["items"]
        assert [a["result"] for a in mine if a["id"] == theirs] == [single]
        listed = {a["id"]: a["result"] for a in
                  (await http.get(f"/api/exams/{exam_id}/attempts", headers=owner.headers)).json()["items"]}
        assert listed[theirs] == single
        assert (listed[own]["bands"]["writing"], listed[own]["overall"]) == (None, None)
