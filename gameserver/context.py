"""What one server process holds while it runs: settings, Redis, store, service, hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from gameserver.hub import Hub
from gameserver.service import GameService
from gameserver.settings import Settings
from gameserver.store import GameStore
from persistence.db import Database


@dataclass
class LiveContext:
    settings: Settings
    redis: Redis
    store: GameStore
    service: GameService
    hub: Hub
    db: Database | None = None  # the platform's SQL database; None only in engine-only tests
    extras: dict[str, Any] = field(default_factory=dict)
