"""Test support for scheduled Speaking: a scheduled IELTS exam with slots, a slot's time moved
straight in the database (to be inside or past its room's window without waiting), and a
room socket that keeps what it received."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import websockets
from sqlalchemy import update
from sqlmodel import col
from websockets.asyncio.client import ClientConnection

from persistence.db import Database
from persistence.speaking.models import SpeakingSlot
from persistence.types import utcnow
from tests.persistence.speaking_bodies import scheduled_ielts
from tests.platform_support import Account
from tests.sql_support import SqlTarget


def iso_in(minutes: float) -> str:
    moment = utcnow().replace(microsecond=0) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


async def scheduled_exam(http: httpx.AsyncClient, owner: Account, **settings: Any) -> int:
    response = await http.post("/api/exams", json=scheduled_ielts(**settings), headers=owner.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def publish(http: httpx.AsyncClient, owner: Account, exam_id: int, minutes_ahead: float,
                  duration: int = 15) -> dict[str, Any]:
    response = await http.post(f"/api/exams/{exam_id}/speaking-slots", headers=owner.headers,
                               json={"starts_at": iso_in(minutes_ahead), "duration_min": duration})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move_slot(target: SqlTarget, slot_id: int, starts_at: datetime, duration: timedelta) -> None:
    """What the clock would do: the slot now starts at `starts_at` (past or near future)."""
    db = Database(target.url, schema=target.schema)
    try:
        async with db.transaction() as session:
            await session.exec(update(SpeakingSlot).where(col(SpeakingSlot.id) == slot_id)
                               .values(starts_at=starts_at, ends_at=starts_at + duration))
    finally:
        await db.dispose()


@dataclass
class RoomClient:
    ws: ClientConnection
    received: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def connect(cls, ws_url: str, slot_id: int, headers: dict[str, str] | None = None) -> RoomClient:
        ws = await websockets.connect(f"{ws_url}/ws/speaking/{slot_id}", additional_headers=headers or {},
                                      open_timeout=10, max_size=2**22)
        return cls(ws)

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else orjson.dumps(message).decode())

    async def recv(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The next message of type `kind` (earlier ones are kept in `received`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {kind} within {timeout}s; got {self.received[-5:]}")
            message = orjson.loads(await asyncio.wait_for(self.ws.recv(), left))
            self.received.append(message)
            if message.get("type") == kind:
                return dict(message)

    async def closed_with(self, timeout: float = 10) -> tuple[int | None, str]:
        """Read until the server closes: its close code and reason."""
        try:
            while True:
                self.received.append(orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout)))
        except websockets.ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")

    async def close(self) -> None:
        await self.ws.close()
