"""Who may enter the Speaking room, and when: the door of `/ws/speaking/{slot_id}`.

The slot's grader and its booked candidate, signed in by the session cookie (a browser cannot
set headers on a WebSocket; the handshake's Origin must then be this host, so another site
cannot ride the cookie) or by `Authorization: Bearer` (scripts), while the exam's speaking is
still a scheduled call. The room is open from 5 minutes before the slot to 10 minutes after
its end. A refused socket is accepted and then closed with a code and a reason the page can
show (a refused handshake tells a browser nothing): 4401 not signed in, 4403 not a party of
this slot (or the exam's speaking is no longer scheduled), 4404 no such slot, 4425 not open
yet, 4410 closed.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from gameserver.platform.exams_api import MAX_ID
from gameserver.platform.http import PlatformError, database_of, principal_of
from persistence.speaking import slots
from persistence.speaking.slots import Role, SlotRecord
from persistence.types import iso

CLOSE_SERVER_ERROR = 1011
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_NOT_FOUND = 4401, 4403, 4404
CLOSE_NOT_OPEN, CLOSE_ENDED = 4425, 4410


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: browsers always send Origin on a WebSocket handshake
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


async def admit(websocket: WebSocket, now: datetime) -> tuple[SlotRecord, Role, int]:
    """The slot, the caller's role and user id, or `Refused` saying why not."""
    try:
        principal = await principal_of(websocket)
    except PlatformError as error:
        raise Refused(CLOSE_SERVER_ERROR, error.message) from error
    if principal is None:
        raise Refused(CLOSE_UNAUTHORIZED, "sign in first")
    if websocket.scope.get("livequiz.via_cookie") and not _same_origin(websocket):
        raise Refused(CLOSE_FORBIDDEN, "cross-site connection refused")
    slot_id = int(websocket.path_params["slot_id"])
    record = await slots.get(database_of(websocket), slot_id) if slot_id <= MAX_ID else None
    if record is None:
        raise Refused(CLOSE_NOT_FOUND, "no such speaking slot")
    role = record.role_of(principal.user_id)
    if role is None or record.booking is None:
        raise Refused(CLOSE_FORBIDDEN, "only the slot's grader and its booked candidate may enter")
    if not slots.has_scheduled_speaking(record.exam):  # its owner has switched the exam to uploads
        raise Refused(CLOSE_FORBIDDEN, "this exam's speaking is no longer a scheduled call")
    if now < slots.room_opens_at(record.slot):
        raise Refused(CLOSE_NOT_OPEN, f"the room opens at {iso(slots.room_opens_at(record.slot))}")
    if now >= slots.room_closes_at(record.slot):
        raise Refused(CLOSE_ENDED, "the room has closed")
    return record, role, principal.user_id
