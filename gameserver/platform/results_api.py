"""Results of group games kept in SQL (PLATFORM.md "Results of group games").

`GET /api/me/games` and `GET /api/me/results` list a signed-in user's hosted and played games;
`stored_results` lets `GET /api/games/{pin}/results` keep answering after the live game has
expired from Redis (the host token still proves the caller hosted it).
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.http import database_of, endpoint, page_of, require_user
from gameserver.store import token_digest
from persistence.db import Database
from persistence.results import store
from persistence.types import iso


async def stored_results(db: Database, pin: str, host_token: str) -> list[dict[str, object]] | None:
    """The results of the newest stored game of `pin` if `host_token` is its host's, else None."""
    found = await store.latest_for_pin(db, pin)
    if found is None:
        return None
    game, lines = found
    if not secrets.compare_digest(token_digest(host_token), game.host_digest):
        return None
    return [line.public() for line in lines]


@endpoint
async def my_games(request: Request) -> Response:
    principal = await require_user(request)
    page = page_of(request)
    games = await store.hosted_by(database_of(request), principal.user_id, limit=page.limit, before_id=page.cursor)
    items = [
        {
            "id": game.id, "pin": game.pin, "title": game.title, "exam_id": game.exam_id,
            "finished_at": iso(game.finished_at), "players": game.player_count,
            "question_count": game.question_count, "results": [line.public() for line in lines],
        }
        for game, lines in games
    ]
    next_cursor = str(games[-1][0].id) if len(games) == page.limit else None
    return ORJSONResponse({"items": items, "next_cursor": next_cursor})


@endpoint
async def my_results(request: Request) -> Response:
    principal = await require_user(request)
    page = page_of(request)
    played = await store.played_by(database_of(request), principal.user_id, limit=page.limit, before_id=page.cursor)
    items = [
        {
            "pin": p.pin, "title": p.title, "exam_id": p.exam_id, "finished_at": iso(p.finished_at),
            "date": iso(p.finished_at), "rank": p.rank, "score": p.score, "answers": p.answers,
            "correct": p.correct, "players": p.players,
        }
        for p in played
    ]
    next_cursor = str(played[-1].id) if len(played) == page.limit else None
    return ORJSONResponse({"items": items, "next_cursor": next_cursor})


def results_routes() -> list[Route]:
    return [
        Route("/api/me/games", my_games, methods=["GET"]),
        Route("/api/me/results", my_results, methods=["GET"]),
    ]
