"""`GET /openapi.json`: an OpenAPI 3.1 description of the HTTP API, built from the app's routes.

Why built from the routes: the document lists exactly the HTTP endpoints the running app
serves under `/api/` (plus `/healthz`), whoever added them. Each (path, method) is described by
an `Operation` in a small registry; a module that adds an API route registers its own piece
(`register_operation(Operation(...))`, at import time, before the first request) and a later
registration of the same path and method replaces an earlier one. A route with no registered
description still appears, as "undocumented", so the document never silently omits one.

Bodies are JSON Schema generated from the pydantic models of `gameserver.api_models`. Every
non-2xx answer (but `/healthz`'s 503, which has its own body) is the error envelope
`{"error": {"code", "message", "details"?}}`, with its
possible `code`s listed per status (and enforced by the schema: the schemathesis test checks
the server against it). The WebSocket endpoints cannot be described in OpenAPI; PROTOCOL.md is
their contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from gameserver import api_models as m

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"
REF = "#/components/schemas/{model}"
BEARER = "hostToken"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z_]+)?\}")


@dataclass(frozen=True)
class Operation:
    """The description of one (method, path) of the HTTP API.

    `responses` maps the statuses with their own body model (the 2xx ones, and odd ones like
    `/healthz`'s 503) to that model, or None for no body. `errors` maps every error status to
    the error codes it may carry (empty: any code); those answer with the error envelope.
    `links` go on the 2xx responses (OpenAPI links: which operations take values from the
    answer, e.g. the new game's PIN). `extra` is merged into the operation object as is.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    errors: Mapping[int, Sequence[str]] = field(default_factory=dict)
    request: type[BaseModel] | None = None
    bearer: bool = False
    description: str = ""
    tags: Sequence[str] = ()
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # path param -> schema
    links: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[int, str] = field(default_factory=dict)  # status -> media type of a file answered

    @property
    def key(self) -> tuple[str, str]:
        return normalize_path(self.path), self.method.upper()

    def models(self) -> Iterator[type[BaseModel]]:
        if self.request is not None:
            yield self.request
        yield from (model for model in self.responses.values() if model is not None)


_REGISTRY: dict[tuple[str, str], Operation] = {}
_generation = 0


def register_operation(operation: Operation) -> None:
    """Describe an HTTP endpoint in `/openapi.json` (replacing any earlier description)."""
    global _generation
    _REGISTRY[operation.key] = operation
    _generation += 1


def registered() -> dict[tuple[str, str], Operation]:
    return dict(_REGISTRY)


def normalize_path(path: str) -> str:
    """Starlette's `{name:converter}` -> OpenAPI's `{name}`."""
    return _PARAM.sub(r"{\1}", path)


# -- the routes of the app -------------------------------------------------------------------


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/healthz"


def api_endpoints(routes: Iterable[BaseRoute], prefix: str = "") -> list[tuple[str, str]]:
    """(path, METHOD) of every HTTP API route, mounts included, HEAD left out."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Route):
            path = normalize_path(prefix + route.path)
            if _is_api(path):
                methods = sorted(route.methods or {"GET"})
                found.extend((path, method) for method in methods if method != "HEAD")
        elif isinstance(route, Mount) and route.routes:
            found.extend(api_endpoints(route.routes, prefix + route.path))
    return sorted(set(found))


# -- building the document -------------------------------------------------------------------

PIN_SCHEMA: dict[str, Any] = {"type": "string", "pattern": m.PIN_PATTERN, "description": "the game's 6-digit PIN"}


def _parameters(operation: Operation | None, path: str) -> list[dict[str, Any]]:
    given = operation.parameters if operation is not None else {}
    params = []
    for name in _PARAM.findall(path):
        schema = dict(given.get(name) or (PIN_SCHEMA if name == "pin" else {"type": "string"}))
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": dict(schema)}}


def _error_response(status: int, codes: Sequence[str]) -> dict[str, Any]:
    schema: dict[str, Any] = _ref(m.ErrorEnvelope)
    if codes:
        schema = {
            "allOf": [
                _ref(m.ErrorEnvelope),
                {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}},
            ]
        }
        description = "error: " + ", ".join(f"`{code}`" for code in codes)
    else:
        description = "error"
    return {"description": f"{status} {description}", "content": _json(schema)}


def _operation_object(operation: Operation, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in sorted(operation.responses.items()):
        response: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if model is not None:
            response["content"] = _json(_ref(model))
        elif status in operation.files:
            response["content"] = {operation.files[status]: {"schema": {"type": "string", "format": "binary"}}}
        if operation.links and 200 <= status < 300:
            response["links"] = {name: dict(link) for name, link in operation.links.items()}
        responses[str(status)] = response
    for status, codes in sorted(operation.errors.items()):
        responses[str(status)] = _error_response(status, codes)
    body: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "responses": responses,
    }
    if operation.description:
        body["description"] = operation.description
    if operation.tags:
        body["tags"] = list(operation.tags)
    params = _parameters(operation, path)
    if params:
        body["parameters"] = params
    if operation.request is not None:
        body["requestBody"] = {"required": True, "content": _json(_ref(operation.request))}
    if operation.bearer:
        body["security"] = [{BEARER: []}]
    body.update(operation.extra)
    return body


def _undocumented(path: str, method: str) -> dict[str, Any]:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    body: dict[str, Any] = {
        "operationId": f"{method.lower()}_{slug}",
        "summary": "(not described yet)",
        "responses": {"default": {"description": "undocumented: no description was registered for this route"}},
        "x-undocumented": True,
    }
    params = _parameters(None, path)
    if params:
        body["parameters"] = params
    return body


def _component_schemas(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    unique = {model.__name__: model for model in models}
    if not unique:
        return {}
    _, top = models_json_schema([(model, "validation") for model in unique.values()], ref_template=REF)
    return dict(top.get("$defs", {}))


def build_spec(
    routes: Iterable[BaseRoute], registry: Mapping[tuple[str, str], Operation] | None = None
) -> dict[str, Any]:
    """The OpenAPI document for these routes, described from `registry` (default: the registered)."""
    described = _REGISTRY if registry is None else registry
    paths: dict[str, dict[str, Any]] = {}
    used: list[type[BaseModel]] = [m.ErrorEnvelope]
    for path, method in api_endpoints(routes):
        operation = described.get((path, method))
        if operation is None:
            paths.setdefault(path, {})[method.lower()] = _undocumented(path, method)
            continue
        paths.setdefault(path, {})[method.lower()] = _operation_object(operation, path)
        used.extend(operation.models())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Live quiz server",
            "version": API_VERSION,
            "description": (
                "HTTP API of the live quiz server (PROTOCOL.md, version 1). The game itself runs on "
                "WebSockets, not described here: `/ws/play/{pin}` (players) and `/ws/host/{pin}` (the host), "
                "subprotocol `quiz.v1.json` (JSON text frames) or `quiz.v1.msgpack` (MessagePack binary "
                "frames). Mobile apps join with `POST /api/games/{pin}/players`, then send `resume` with "
                "the token on the socket. Every non-2xx answer is `{\"error\": {\"code\", \"message\", "
                "\"details\"?}}` (`/healthz` excepted)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _component_schemas(used),
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the `host_token` returned by `POST /api/games`",
                },
                # The platform's endpoints (PLATFORM.md): an API token from login (mobile app,
                # bot, scripts); browsers use the session cookie and X-CSRF-Token instead.
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token from `POST /api/auth/login` or register (30 days)",
                },
            },
        },
    }


async def openapi_json(request: Request) -> Response:
    app = request.app
    key = (_generation, len(app.routes))
    cached = getattr(app.state, "openapi_document", None)
    if cached is None or cached[0] != key:
        cached = (key, orjson.dumps(build_spec(app.routes)))
        app.state.openapi_document = cached
    return Response(cached[1], media_type="application/json")


def openapi_routes() -> list[Route]:
    return [Route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False)]


# -- the endpoints described here ------------------------------------------------------------
# Those of gameserver.http_api, and those gameserver.web adds for its pages (used unless that
# module registers descriptions of its own). Only routes the app really has are listed.

_GAME = ("games",)
_PLAYERS = ("players",)

for _operation in (
    Operation(
        "POST", "/api/games", "createGame", "Create a game from a quiz",
        responses={201: m.GameCreated}, request=m.QuizCreate,
        errors={422: ["invalid_quiz"], 429: ["rate_limited"], 503: ["server_busy"]}, tags=_GAME,
        description="Only `select_one` questions are played; others are skipped and counted. The body is "
        "at most 512 KiB; a larger or non-JSON body is `invalid_quiz` too. A body with `sample` set plays "
        "the bundled sample of that name (its other fields unused). Per address: `LIVEQUIZ_IP_CREATE_LIMIT` "
        "games per window, then `429 rate_limited` with `Retry-After`; no free PIN or Redis away: "
        "`503 server_busy` with `Retry-After`.",
        links={
            "GetGame": {"operationId": "getGame", "parameters": {"pin": "$response.body#/pin"}},
            "JoinGame": {"operationId": "joinGame", "parameters": {"pin": "$response.body#/pin"}},
            "GetResults": {"operationId": "getResults", "parameters": {"pin": "$response.body#/pin"}},
        },
    ),
    Operation(
        "GET", "/api/games/{pin}", "getGame", "A game's public state",
        responses={200: m.GameInfo}, errors={404: ["unknown_game"], 429: ["rate_limited"], 503: ["server_busy"]},
        tags=_GAME,
        description="An address that looked up more than `LIVEQUIZ_IP_LOOKUP_MISS_LIMIT` PINs with no game "
        "in a window gets `429 rate_limited` (with `Retry-After`) for every look-up until the window ends.",
    ),
    Operation(
        "POST", "/api/games/{pin}/players", "joinGame", "Join a game without a socket (mobile)",
        responses={201: m.PlayerSeat}, request=m.PlayerJoin, tags=_PLAYERS,
        errors={
            400: ["bad_message"], 404: ["unknown_game"], 409: ["name_taken", "game_full"], 410: ["finished"],
            422: ["name_invalid"], 423: ["locked"], 429: ["rate_limited"], 503: ["server_busy"],
        },
        description="Then open `/ws/play/{pin}` and send `{\"type\": \"resume\", \"token\": <token>}`. "
        "A body that is not a JSON object with a string `name` is `400 bad_message`.",
    ),
    Operation(
        "GET", "/api/games/{pin}/results", "getResults", "Final results, for the host",
        responses={200: m.Results}, bearer=True, tags=_GAME,
        errors={401: ["unauthorized"], 403: ["not_host"], 404: ["unknown_game"], 409: ["not_finished"]},
        description="Available once the game is FINISHED (kept at least 24 h). Names, scores and answer "
        "counts only: never phone or email.",
    ),
    Operation(
        "GET", "/healthz", "healthz", "Liveness: the server and its Redis answer",
        responses={200: m.Health, 503: m.HealthUnavailable}, tags=("ops",),
    ),
    Operation(
        "GET", "/api/join/{pin}", "joinInfo", "Join link and QR code path for a PIN (host screen)",
        responses={200: m.JoinInfo}, errors={400: ["bad_pin"]}, tags=("web",),
    ),
    Operation(
        "GET", "/api/samples", "listSamples", "The bundled sample quizzes",
        responses={200: m.SampleList}, tags=("web",),
    ),
    Operation(
        "GET", "/api/samples/{name}", "getSample", "One bundled sample quiz, ready for POST /api/games",
        responses={200: m.SampleQuiz}, errors={404: ["not_found"]}, tags=("web",),
        parameters={"name": {"type": "string", "description": "sample name, `.json` optional", "examples": ["demo"]}},
    ),
):
    register_operation(_operation)
