"""`GET /readyz`: whether this process should be sent traffic (load balancers, Kubernetes).

Ready means its Redis answers and its SQL database answers at the schema this code expects
(every migration applied). On a Redis Cluster every master must answer: a game whose slot has
no master cannot be played, and a failover under way (a replica being promoted, a few seconds)
says "unavailable" until the client has learnt the new master. `/healthz` stays the liveness
check of the game protocol.
"""

from __future__ import annotations

from redis.asyncio import Redis, RedisCluster
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.context import LiveContext
from gameserver.http_api import ORJSONResponse


async def readyz(request: Request) -> Response:
    live: LiveContext = request.app.state.live
    checks: dict[str, str] = {}
    try:
        await _ping(live.redis)
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


async def _ping(redis: Redis | RedisCluster) -> None:
    if isinstance(redis, RedisCluster):
        await redis.ping(target_nodes=RedisCluster.PRIMARIES)  # every master, not one of them
    else:
        await redis.ping()


def readiness_routes() -> list[Route]:
    return [Route("/readyz", readyz, methods=["GET"])]
