"""`GET /openapi.json` against the running server: schemathesis generates requests for every
operation from the document and checks that the server never answers 5xx, only answers the
statuses the document lists, and that every body matches the document's schema.

Random PINs hit no game, so a second test walks real games (waiting, locked, finished) through
each operation with real PINs and tokens and validates those answers the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from starlette.routing import Route

from gameserver.api_models import GameInfo
from gameserver.app import create_app
from gameserver.openapi import Operation, api_endpoints, build_spec, registered
from tests.support import ServerProcess, create_game, host, player, quiz

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
CORE = {
    ("/api/games", "post"), ("/api/games/{pin}", "get"), ("/api/games/{pin}/players", "post"),
    ("/api/games/{pin}/results", "get"), ("/healthz", "get"),
}


def app_document() -> dict[str, Any]:
    """The document the server serves, built in process (no I/O: the app is not started)."""
    return build_spec(create_app().routes)


# Built at collection time so that every operation is its own pytest test; the server fixture
# serves the same document (test_the_served_document_is_the_tested_one).
schema = schemathesis.openapi.from_dict(app_document())


@pytest.fixture
def api_schema(server: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case: schemathesis.Case[Any], server: ServerProcess) -> None:
    case.call_and_validate(base_url=server.base_url, checks=CHECKS)


def test_api_conforms_in_stateful_runs(server: ServerProcess) -> None:
    """Follows the document's links: create a game, then read it, join it, ask for its results
    with the PIN just returned, so that the answers for real games are checked too."""
    games_only = schemathesis.openapi.from_dict(app_document()).include(path_regex="^/api/games")
    base_url = server.base_url
    seen: Counter[tuple[str, str, int]] = Counter()

    class Workflow(games_only.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": base_url}

        def validate_response(self, response: Any, case: schemathesis.Case[Any], *_: Any, **kwargs: Any) -> None:
            seen[(case.method, case.path, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=settings(
            max_examples=20, stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)
        )
    )
    # The links were followed: real games were read, not only 404s for random PINs.
    assert seen[("POST", "/api/games", 201)] and seen[("GET", "/api/games/{pin}", 200)], seen


def test_the_served_document_is_the_tested_one(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == app_document()


def test_openapi_lists_every_api_route(server: ServerProcess) -> None:
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert operations >= CORE
    # Exactly the HTTP API routes of the app: nothing left out, nothing that is not served.
    served = {(path, method.lower()) for path, method in api_endpoints(create_app().routes)}
    assert operations == served
    undocumented = [f"{m.upper()} {p}" for p, item in document["paths"].items() for m, op in item.items()
                    if op.get("x-undocumented")]
    assert not undocumented, f"register an openapi.Operation for {undocumented}"
    for path, item in document["paths"].items():
        for method, op in item.items():
            statuses = set(op["responses"])
            assert any(s.startswith("2") for s in statuses), (method, path)
            # Every success has a described body, but 204 (which has none by definition).
            assert all("content" in op["responses"][s] for s in statuses
                       if s.startswith("2") and s != "204"), (method, path)
            if method == "post":
                assert "requestBody" in op, (method, path)
    results = document["paths"]["/api/games/{pin}/results"]["get"]
    assert results["security"] == [{"hostToken": []}]
    assert document["components"]["securitySchemes"]["hostToken"] == {
        "type": "http", "scheme": "bearer", "description": "the `host_token` returned by `POST /api/games`",
    }
    join = document["paths"]["/api/games/{pin}/players"]["post"]["responses"]
    assert {"201", "400", "404", "409", "410", "422", "423"} <= set(join)
    assert {"401", "403", "404", "409"} <= set(results["responses"])
    assert "503" in document["paths"]["/healthz"]["get"]["responses"]


def test_a_new_route_appears_and_can_describe_itself() -> None:
    async def endpoint(request: Any) -> Any:  # pragma: no cover - never called
        raise NotImplementedError

    path = "/api/games/{pin}/example/{item:path}"
    routes = [Route(path, endpoint, methods=["POST"]), Route("/", endpoint), Route("/static/x", endpoint)]
    plain = build_spec(routes, registry={})
    assert list(plain["paths"]) == ["/api/games/{pin}/example/{item}"]
    operation = plain["paths"]["/api/games/{pin}/example/{item}"]["post"]
    assert operation["x-undocumented"] and [p["name"] for p in operation["parameters"]] == ["pin", "item"]
    description = Operation(
        "POST", path, "exampleItem", "An example route",
        responses={200: GameInfo}, errors={404: ["unknown_game"], 401: []}, bearer=True,
    )
    described = build_spec(routes, {**registered(), description.key: description})
    op = described["paths"]["/api/games/{pin}/example/{item}"]["post"]
    assert op["operationId"] == "exampleItem" and "x-undocumented" not in op
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GameInfo"}
    assert "GameInfo" in described["components"]["schemas"]
    assert op["security"] == [{"hostToken": []}]
    assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }


# -- the same checks with real games -----------------------------------------------------------


@pytest.fixture
def validate(api_schema: Any) -> Iterator[Any]:
    calls: list[tuple[str, str, int]] = []

    def call(method: str, path: str, *, pin: str, body: Any = None, token: str | None = None) -> Any:
        operation = api_schema[path][method]
        kwargs: dict[str, Any] = {"path_parameters": {"pin": pin}}
        if body is not None:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        if token is not None:
            kwargs["headers"] = {"Authorization": f"Bearer {token}"}
        response = operation.Case(**kwargs).call_and_validate(checks=CHECKS)
        calls.append((method, path, response.status_code))
        return response

    yield call
    assert calls


async def test_real_games_answer_as_documented(server: ServerProcess, validate: Any) -> None:
    game = await create_game(server.base_url, quiz(n=1, time_limit=5))
    pin, token = game["pin"], game["host_token"]
    assert validate("GET", "/api/games/{pin}", pin=pin).json()["phase"] == "WAITING"
    seat = validate("POST", "/api/games/{pin}/players", pin=pin, body={"name": "Ann"})
    assert seat.status_code == 201
    for body, status in [({"name": "ann"}, 409), ({"name": ""}, 422), ({"name": 5}, 400), ([1], 400)]:
        assert validate("POST", "/api/games/{pin}/players", pin=pin, body=body).status_code == status
    assert validate("GET", "/api/games/{pin}/results", pin=pin, token=token).status_code == 409
    assert validate("GET", "/api/games/{pin}/results", pin=pin, token="wrong").status_code == 403

    the_host = await host(server.ws_url, game)
    await the_host.send({"type": "lock"})
    while not (await the_host.recv("lobby", skip=())).get("locked"):
        pass  # the welcome's own lobby may come first; the lock's says locked
    assert validate("POST", "/api/games/{pin}/players", pin=pin, body={"name": "Late"}).status_code == 423
    await the_host.send({"type": "unlock"})
    bo, _ = await player(server.ws_url, pin, "Bo")
    await the_host.send({"type": "start"})
    await bo.recv("question")
    assert validate("GET", "/api/games/{pin}", pin=pin).json()["phase"] == "ACTIVE"
    await the_host.send({"type": "end"})
    await bo.recv("finished", skip=("lobby", "reveal", "leaderboard"))
    assert validate("GET", "/api/games/{pin}", pin=pin).json()["phase"] == "FINISHED"
    assert validate("POST", "/api/games/{pin}/players", pin=pin, body={"name": "Cy"}).status_code == 410
    results = validate("GET", "/api/games/{pin}/results", pin=pin, token=token).json()["results"]
    assert {row["name"] for row in results} == {"Ann", "Bo"}
    await bo.close()
    await the_host.close()

    # Creating games: skipped questions, and refusals with their details.
    mixed = quiz(n=2)
    mixed["questions"].append({"type": "multi_select", "text": "?", "options": []})
    create = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")["/api/games"]["POST"]
    for body, status in [(mixed, 201), ({"title": "x", "questions": []}, 422), ({"title": "x"}, 422)]:
        response = create.Case(body=body, media_type="application/json").call_and_validate(checks=CHECKS)
        assert response.status_code == status
        if status == 422:
            assert response.json()["error"]["details"]
        else:
            assert response.json()["skipped"] == 1
