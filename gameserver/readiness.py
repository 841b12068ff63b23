"""`GET /readyz`: whether this process should be sent traffic (load balancers, Kubernetes).

Ready means its Redis answers and its SQL database answers at the schema this code expects
(every migration applied). `/healthz` stays the liveness check of the game protocol.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.context import LiveContext
from gameserver.http_api import ORJSONResponse


async def readyz(request: Request) -> Response:
    live: LiveContext = request.app.state.live
    checks: dict[str, str] = {}
    try:
        await live.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    if live.db is None:
        checks["database"] = "not configured"
    else:
        try:
            checks["database"] = "ok" if await live.db.is_at_head() else "migrations pending"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return ORJSONResponse({"status": "ready" if ready else "unready", **checks}, status_code=200 if ready else 503)


def readiness_routes() -> list[Route]:
    return [Route("/readyz", readyz, methods=["GET"])]
