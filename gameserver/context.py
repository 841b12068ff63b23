"""What one server process holds while it runs: settings, Redis, store, service, hub, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gameserver.clock import Clock, SystemClock
from gameserver.hub import Hub
from gameserver.redis_client import RedisClient
from gameserver.service import GameService
from gameserver.settings import Settings
from gameserver.store import GameStore
from persistence.db import Database


@dataclass
class LiveContext:
    settings: Settings
    redis: RedisClient  # one Redis, or a Redis Cluster (`redis_client.py`)
    store: GameStore
    service: GameService
    hub: Hub
    db: Database | None = None  # the platform's SQL database; None only in engine-only tests
    # What every stamp, limit, cache and timer of the process reads (`gameserver.clock`); the
    # store, service and hub were given the same one.
    clock: Clock = field(default_factory=SystemClock)
    extras: dict[str, Any] = field(default_factory=dict)
