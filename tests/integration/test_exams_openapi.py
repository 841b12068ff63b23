"""The exams and attempts part of `/openapi.json` as the mobile app uses it: a signed-in
(Bearer) attempt with `platform: mobile` from start to finish, every answer validated against
the served document (status listed, body matching its schema), and the examples the app's
developers read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.platform_support import Account, make_account, platform_server
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAM = {
    "title": "Mobile exam",
    "show_in_mobile": True,
    "time_limit_s": 300,
    "pass_percent": 50,
    "questions": [
        {"type": "select_one", "text": "2 + 2?", "options": ["3", "4"], "correct": 1},
        {"type": "select_many", "text": "Even?", "options": ["2", "3", "4"], "correct": [0, 2]},
        {"type": "text", "text": "Say yes", "accepted": ["yes"]},
        {"type": "free", "text": "Anything", "extra": True},
    ],
}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> SqlTarget:
    return SqlTarget("sqlite", url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sql') / 'mobile.db'}")


@pytest.fixture(scope="module")
def mobile_server(
    target: SqlTarget, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[ServerProcess]:
    with platform_server(target, tmp_path_factory.mktemp("server"), redis_url) as server:
        yield server


class Validated:
    def __init__(self, server: ServerProcess, account: Account) -> None:
        self.schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        self.base_url = server.base_url
        self.account = account
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, method: str, path: str, body: Any = None, **path_parameters: Any) -> Any:
        kwargs: dict[str, Any] = {"path_parameters": path_parameters, "headers": self.account.headers}
        if body is not None:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        case = self.schema[path][method].Case(**kwargs)
        response = case.call_and_validate(base_url=self.base_url, checks=CHECKS)
        self.seen.append((method, path, response.status_code))
        return response


async def test_a_mobile_attempt_answers_as_documented(
    mobile_server: ServerProcess, target: SqlTarget, tmp_path: Path
) -> None:
    owner = await make_account(target, "author")
    phone = await make_account(target, "phone")
    as_owner, as_phone = Validated(mobile_server, owner), Validated(mobile_server, phone)
    exam = as_owner("POST", "/api/exams", EXAM).json()
    exam_id = exam["id"]
    assert as_phone("GET", "/api/exams/{exam_id}", exam_id=exam_id).status_code == 200
    assert as_phone("GET", "/api/exams/{exam_id}/availability", exam_id=exam_id).json()["mobile"] is True
    assert as_phone("GET", "/api/exams", None).status_code == 200
    started = as_phone("POST", "/api/exams/{exam_id}/attempts", {"platform": "mobile"}, exam_id=exam_id)
    assert started.status_code == 201
    attempt_id = started.json()["id"]
    again = as_phone("POST", "/api/exams/{exam_id}/attempts", {"platform": "mobile"}, exam_id=exam_id)
    assert again.status_code == 409
    for n, body in [(0, {"option": 1}), (1, {"options": [0, 2]}), (2, {"text": "YES"}), (2, {"option": 0})]:
        as_phone("PUT", "/api/attempts/{attempt_id}/answers/{n}", body, attempt_id=attempt_id, n=n)
    assert as_phone("GET", "/api/attempts/{attempt_id}/answers/{n}", attempt_id=attempt_id, n=0).status_code == 409
    assert (
        as_phone("POST", "/api/attempts/{attempt_id}/events", {"type": "tab_hidden"}, attempt_id=attempt_id).status_code
        == 200
    )
    result = as_phone("POST", "/api/attempts/{attempt_id}/finish", attempt_id=attempt_id).json()
    assert (result["score"], result["max"], result["passed"]) == (4, 4, True)
    assert as_phone("GET", "/api/attempts/{attempt_id}/answers/{n}", attempt_id=attempt_id, n=0).json()["correct"]
    assert as_phone("GET", "/api/attempts/{attempt_id}", attempt_id=attempt_id).json()["platform"] == "mobile"
    assert as_phone("GET", "/api/me/attempts").status_code == 200
    assert as_owner("GET", "/api/exams/{exam_id}/attempts", exam_id=exam_id).json()["items"][0]["id"] == attempt_id
    assert (
        as_phone("PUT", "/api/attempts/{attempt_id}/answers/{n}", {"option": 0}, attempt_id=attempt_id, n=0).status_code
        == 409
    )
    assert as_phone("POST", "/api/exams/{exam_id}/games", {}, exam_id=exam_id).status_code == 201
    assert as_phone("PATCH", "/api/exams/{exam_id}", {"title": "Mine"}, exam_id=exam_id).status_code == 403
    assert as_owner("PATCH", "/api/exams/{exam_id}", {"price": 100}, exam_id=exam_id).status_code == 200
    assert as_owner("DELETE", "/api/exams/{exam_id}", exam_id=exam_id).status_code == 204

    document = as_phone.schema.raw_schema
    start = document["paths"]["/api/exams/{exam_id}/attempts"]["post"]
    assert start["security"] == [{"apiToken": []}] and "apiToken" in document["components"]["securitySchemes"]
    schemas = document["components"]["schemas"]
    assert schemas["AttemptStart"]["examples"] == [{"platform": "mobile"}]
    assert schemas["AttemptStarted"]["examples"][0]["questions"][0]["n"] == 0
    assert {"option": 1} in schemas["AnswerIn"]["examples"]
    assert set(start["responses"]) >= {"201", "402", "403", "409"}
