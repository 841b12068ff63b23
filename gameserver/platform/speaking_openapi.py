"""OpenAPI descriptions of scheduled Speaking (issue 21): slots and bookings. The room itself is
the WebSocket `/ws/speaking/{slot_id}` (described in docs/platform.md, not here: OpenAPI
describes HTTP). The handlers build plain dicts; these models only describe them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gameserver.openapi import Operation, register_operation
from gameserver.platform.exams_openapi import _AUTH, _ID, _PAGING, _SIGNED_IN, _WRITE, NoFields, _query

_TAGS = ("speaking",)
_NOT_SCHEDULED = "speaking_not_scheduled"
State = Literal["free", "booked", "held", "missed"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SlotIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"starts_at": "2027-01-15T09:00:00Z", "duration_min": 15}]})

    starts_at: str = Field(description="ISO 8601 with its offset (Z for UTC); in the future")
    duration_min: int = Field(ge=5, le=60)


class Candidate(_Open):
    id: int
    name: str


class SlotView(_Open):
    id: int
    exam_id: int
    starts_at: str
    ends_at: str
    duration_min: int
    room_opens_at: str = Field(description="5 minutes before the start")
    room_closes_at: str = Field(description="10 minutes after the end")
    state: State = Field(description="held: both parties were in the room together; missed: the room "
                         "closed without that")
    candidate: Candidate | None = Field(None, description="the exam's owner and admins only")
    held_at: str | None = None


class SlotPage(_Open):
    items: list[SlotView]
    next_cursor: str | None


class SlotDetail(SlotView):
    exam_title: str
    role: Literal["grader", "candidate"] | None
    grader: str


class MySlot(SlotView):
    role: Literal["grader", "candidate"]
    exam_title: str
    with_: str = Field(alias="with", description="the other party's name")


class MySlotPage(_Open):
    items: list[MySlot]
    next_cursor: str | None


OPERATIONS = [
    Operation("POST", "/api/exams/{exam_id}/speaking-slots", "publishSpeakingSlot", "Publish a Speaking slot",
              responses={201: SlotView}, request=SlotIn, tags=_TAGS, parameters={"exam_id": _ID}, extra=_AUTH,
              errors={**_WRITE, 403: ["forbidden", "csrf"], 404: ["not_found"], 409: [_NOT_SCHEDULED, "slot_overlap"],
                      422: ["invalid"]},
              description="The exam's owner or an admin, on an IELTS/CEFR exam whose `speaking_mode` is "
              "`scheduled`. The owner is the grader; a grader's slots never overlap (`409 slot_overlap` names "
              "the other in `details[0].slot_id`). A start in the past is `422 invalid`."),
    Operation("GET", "/api/exams/{exam_id}/speaking-slots", "listSpeakingSlots", "An exam's Speaking slots",
              responses={200: SlotPage}, tags=_TAGS,
              errors={**_SIGNED_IN, 404: ["not_found"], 409: [_NOT_SCHEDULED], 422: ["invalid"]},
              extra=_AUTH | _query(*_PAGING, path=("exam_id",)),
              description="By start time. The owner and admins see every slot with its candidate and state; "
              "anyone else signed in sees the free future slots."),
    Operation("GET", "/api/speaking-slots/{slot_id}", "getSpeakingSlot", "One Speaking slot",
              responses={200: SlotDetail}, tags=_TAGS, parameters={"slot_id": _ID}, extra=_AUTH,
              errors={**_SIGNED_IN, 404: ["not_found"]},
              description="For its grader, its candidate, the exam's owner and admins (anyone else: 404)."),
    Operation("DELETE", "/api/speaking-slots/{slot_id}", "deleteSpeakingSlot", "Withdraw a Speaking slot",
              responses={204: None}, tags=_TAGS, parameters={"slot_id": _ID}, extra=_AUTH,
              errors={**_SIGNED_IN, 403: ["forbidden", "csrf"], 404: ["not_found"], 409: ["slot_started"]},
              description="The exam's owner or an admin, before the slot starts; its booking goes with it."),
    Operation("POST", "/api/speaking-slots/{slot_id}/booking", "bookSpeakingSlot", "Book a Speaking slot",
              responses={201: SlotView}, request=NoFields, tags=_TAGS, parameters={"slot_id": _ID}, extra=_AUTH,
              errors={**_WRITE, 402: ["payment_required"], 403: ["forbidden", "csrf"], 404: ["not_found"],
                      409: ["slot_taken", "already_booked", "slot_started", "exam_inactive", _NOT_SCHEDULED],
                      422: ["invalid"]},
              description="One booking per candidate and exam (`409 already_booked`); of two candidates "
              "racing for one slot exactly one wins, the other gets `409 slot_taken`. A paid exam's slot "
              "is booked only by someone holding a paid attempt of it (`402 payment_required`; the "
              "exam's owner and admins are exempt)."),
    Operation("DELETE", "/api/speaking-slots/{slot_id}/booking", "cancelSpeakingBooking", "Cancel my booking",
              responses={204: None}, tags=_TAGS, parameters={"slot_id": _ID}, extra=_AUTH,
              errors={**_SIGNED_IN, 403: ["csrf"], 404: ["not_found"], 409: ["slot_started"]},
              description="Before the slot starts."),
    Operation("GET", "/api/me/speaking-slots", "mySpeakingSlots", "My Speaking slots",
              responses={200: MySlotPage}, tags=_TAGS, errors={**_SIGNED_IN, 422: ["invalid"]},
              extra=_AUTH | _query(*_PAGING),
              description="The booked slots the caller takes part in, as candidate or grader, by start time; "
              "the room of each is `/ws/speaking/{id}`."),
]


def describe() -> None:
    for operation in OPERATIONS:
        register_operation(operation)
