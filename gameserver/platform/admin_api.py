"""Admin endpoints of the accounts area: read the audit log, change a user's role.

Only `role: admin` callers (`403 forbidden` for anyone else); each action is itself recorded in
the audit log. Nobody, admins included, can change or remove an entry: there is no endpoint
for it and the database refuses it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.http import (
    PlatformError,
    client_ip,
    database_of,
    endpoint,
    invalid,
    json_body,
    page_of,
    require_admin,
)
from persistence.accounts import admin, audit, service
from persistence.accounts.errors import AccountError


@endpoint
async def audit_log(request: Request) -> Response:
    principal = await require_admin(request)
    page = page_of(request)
    user_id: int | None = None
    raw_user = request.query_params.get("user")
    if raw_user:
        if not raw_user.isdigit():
            raise invalid("user must be a user id",
                          [{"loc": ["query", "user"], "msg": "not a number", "type": "int_parsing"}])
        user_id = int(raw_user)
    action = request.query_params.get("action") or None
    db = database_of(request)
    async with db.transaction() as session:
        found = await audit.entries(session, limit=page.limit, before_id=page.cursor, user_id=user_id, action=action)
        await audit.record(session, audit.ADMIN_AUDIT_READ, actor_id=principal.user_id, ip=client_ip(request),
                           details={"user": user_id, "action": action})
    next_cursor = str(found[-1].id) if len(found) == page.limit else None
    return ORJSONResponse({"items": [entry.public() for entry in found], "next_cursor": next_cursor})


@endpoint
async def change_role(request: Request) -> Response:
    principal = await require_admin(request)
    raw_id = str(request.path_params["user_id"])
    if not raw_id.isdigit():
        raise PlatformError(404, "not_found", "no such user")
    user_id = int(raw_id)
    if user_id == principal.user_id:
        # An admin demoting themselves could leave no admin at all; another admin (or the
        # command line) does it.
        raise PlatformError(403, "forbidden", "you cannot change your own role")
    data = await json_body(request)
    try:
        user = await admin.set_role(database_of(request), user_id, str(data.get("role")),
                                    actor_id=principal.user_id, ip=client_ip(request))
    except AccountError as error:
        raise PlatformError(error.status, error.code, error.message, error.details) from error
    return ORJSONResponse(service.profile(user))


def admin_routes() -> list[Route]:
    return [
        Route("/api/admin/audit", audit_log, methods=["GET"]),
        Route("/api/admin/users/{user_id}/role", change_role, methods=["POST"]),
    ]
