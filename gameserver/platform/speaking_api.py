"""Scheduled Speaking over HTTP (issue 21, 000 §14): slots, bookings, and the room's WebSocket.

The exam's owner (or an admin) publishes slots; a signed-in candidate books one free future
slot per exam (of a paid exam, only with a paid attempt of it: `402 payment_required`) and may
cancel it before it starts. The owner's list shows every slot with its
candidate and state (free, booked, held, missed); anyone else sees only the free future ones.
The live call itself is `/ws/speaking/{slot_id}` (`speaking_room`).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gameserver.http_api import ORJSONResponse
from gameserver.platform.exams_api import exam_or_404, id_param, may_edit
from gameserver.platform.http import (
    Handler,
    PlatformError,
    database_of,
    endpoint,
    forbidden,
    invalid,
    json_body,
    live_of,
    page_of,
    require_user,
)
from gameserver.platform.speaking_keys import revoke
from gameserver.platform.speaking_room import speaking_socket
from persistence.speaking import account_hooks, slots
from persistence.speaking.slots import SlotRecord, SpeakingError
from persistence.types import as_utc, iso, utcnow


def speaking_endpoint(function: Handler) -> Handler:
    """`endpoint`, with the slots' refusals as the platform's JSON errors."""

    @functools.wraps(function)
    async def wrapped(request: Request) -> Response:
        try:
            return await function(request)
        except SpeakingError as refusal:
            raise PlatformError(refusal.status, refusal.code, refusal.message, refusal.details) from refusal

    return endpoint(wrapped)  # type: ignore[no-any-return]


def _field_error(name: str, message: str, kind: str) -> PlatformError:
    return invalid(message, [{"loc": ["body", name], "msg": message, "type": kind}])


def parse_start(value: object) -> datetime:
    """An ISO 8601 moment with its offset (`...Z` or `+05:00`), as UTC to the second."""
    if not isinstance(value, str) or len(value) > 40:
        raise _field_error("starts_at", "starts_at is an ISO 8601 UTC timestamp", "datetime_type")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _field_error("starts_at", "starts_at is not an ISO 8601 timestamp", "datetime_parsing") from exc
    if moment.tzinfo is None:
        raise _field_error("starts_at", "starts_at needs its offset (Z for UTC)", "timezone_aware")
    return as_utc(moment).astimezone(UTC).replace(microsecond=0)


def parse_duration(value: object) -> int:
    if (not isinstance(value, int) or isinstance(value, bool)
            or not slots.MIN_DURATION_MIN <= value <= slots.MAX_DURATION_MIN):
        raise _field_error("duration_min", f"duration_min is {slots.MIN_DURATION_MIN}-{slots.MAX_DURATION_MIN} "
                           "minutes", "out_of_range")
    return value


def slot_view(record: SlotRecord, *, with_candidate: bool, now: datetime) -> dict[str, Any]:
    slot = record.slot
    body: dict[str, Any] = {
        "id": slot.id, "exam_id": slot.exam_id, "starts_at": iso(slot.starts_at), "ends_at": iso(slot.ends_at),
        "duration_min": int((slot.ends_at - slot.starts_at).total_seconds() // 60),
        "room_opens_at": iso(slots.room_opens_at(slot)), "room_closes_at": iso(slots.room_closes_at(slot)),
        "state": slots.state_of(slot, record.booking, now),
    }
    if with_candidate:
        body["candidate"] = (None if record.booking is None else
                             {"id": record.booking.candidate_id, "name": slots.display_name(record.candidate)})
        body["held_at"] = iso(record.booking.held_at) if record.booking is not None else None
    return body


def _next_cursor(records: list[SlotRecord], limit: int) -> str | None:
    return str(records[-1].slot.id) if len(records) == limit else None


@speaking_endpoint
async def publish_slot(request: Request) -> Response:
    principal = await require_user(request)
    exam = await exam_or_404(request)
    if not may_edit(principal, exam):
        raise forbidden("only the exam's owner or an admin may publish speaking slots")
    data = await json_body(request)
    starts_at, duration = parse_start(data.get("starts_at")), parse_duration(data.get("duration_min"))
    slot = await slots.publish(database_of(request), exam, principal.user_id, starts_at, duration)
    record = SlotRecord(slot, exam, None, None, None)
    return ORJSONResponse(slot_view(record, with_candidate=True, now=utcnow()), status_code=201)


@speaking_endpoint
async def list_slots(request: Request) -> Response:
    principal = await require_user(request)
    exam = await exam_or_404(request)
    slots.require_scheduled(exam)
    page = page_of(request)
    owner = may_edit(principal, exam)
    now = utcnow()
    records = await slots.listing(database_of(request), exam.id or 0, free_only=not owner, limit=page.limit,
                                  after_id=page.cursor, now=now)
    return ORJSONResponse({"items": [slot_view(r, with_candidate=owner, now=now) for r in records],
                           "next_cursor": _next_cursor(records, page.limit)})


async def _slot_or_404(request: Request) -> SlotRecord:
    record = await slots.get(database_of(request), id_param(request, "slot_id", "speaking slot"))
    if record is None:
        raise slots.slot_not_found()
    return record


@speaking_endpoint
async def get_slot(request: Request) -> Response:
    """One slot, for its grader, its candidate, the exam's owner and admins (the room page)."""
    principal = await require_user(request)
    record = await _slot_or_404(request)
    role = record.role_of(principal.user_id)
    if role is None and not may_edit(principal, record.exam):
        raise slots.slot_not_found()  # a stranger learns nothing of who booked what
    body = slot_view(record, with_candidate=True, now=utcnow())
    body.update({"exam_title": record.exam.title, "role": role, "grader": slots.display_name(record.grader)})
    return ORJSONResponse(body)


@speaking_endpoint
async def delete_slot(request: Request) -> Response:
    principal = await require_user(request)
    record = await _slot_or_404(request)
    if not may_edit(principal, record.exam):
        raise forbidden("only the exam's owner or an admin may withdraw a slot")
    await slots.delete_slot(database_of(request), record.slot.id or 0)
    await revoke(live_of(request).redis, record.slot, ("grader", "candidate"), "the slot was withdrawn")
    return Response(status_code=204)


@speaking_endpoint
async def book_slot(request: Request) -> Response:
    principal = await require_user(request)
    slot_id = id_param(request, "slot_id", "speaking slot")
    await json_body(request)  # nothing to send; a body that is not JSON is still refused
    db = database_of(request)
    await slots.book(db, slot_id, principal.user_id, staff=principal.is_admin)
    record = await slots.get(db, slot_id)
    if record is None:  # withdrawn the moment after it was booked
        raise slots.slot_not_found()
    return ORJSONResponse(slot_view(record, with_candidate=False, now=utcnow()), status_code=201)


@speaking_endpoint
async def cancel_booking(request: Request) -> Response:
    principal = await require_user(request)
    record = await _slot_or_404(request)
    await slots.cancel(database_of(request), record.slot.id or 0, principal.user_id)
    await revoke(live_of(request).redis, record.slot, ("candidate",), "the booking was cancelled")
    return Response(status_code=204)


@speaking_endpoint
async def my_slots(request: Request) -> Response:
    principal = await require_user(request)
    page = page_of(request)
    records = await slots.mine(database_of(request), principal.user_id, limit=page.limit, after_id=page.cursor)
    now = utcnow()
    items = []
    for record in records:
        role = record.role_of(principal.user_id)
        items.append({**slot_view(record, with_candidate=False, now=now), "role": role,
                      "exam_title": record.exam.title,
                      "with": slots.display_name(record.candidate if role == "grader" else record.grader)})
    return ORJSONResponse({"items": items, "next_cursor": _next_cursor(records, page.limit)})


def speaking_routes() -> list[BaseRoute]:
    from gameserver.platform.speaking_openapi import describe

    describe()  # this area's part of /openapi.json
    account_hooks.install()  # bookings in the user's data export; future ones cancelled with the account
    return [
        Route("/api/exams/{exam_id:int}/speaking-slots", publish_slot, methods=["POST"]),
        Route("/api/exams/{exam_id:int}/speaking-slots", list_slots, methods=["GET"]),
        Route("/api/speaking-slots/{slot_id:int}", get_slot, methods=["GET"]),
        Route("/api/speaking-slots/{slot_id:int}", delete_slot, methods=["DELETE"]),
        Route("/api/speaking-slots/{slot_id:int}/booking", book_slot, methods=["POST"]),
        Route("/api/speaking-slots/{slot_id:int}/booking", cancel_booking, methods=["DELETE"]),
        Route("/api/me/speaking-slots", my_slots, methods=["GET"]),
        WebSocketRoute("/ws/speaking/{slot_id:int}", speaking_socket),
    ]
