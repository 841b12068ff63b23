"""Prometheus metrics of one server process, and `GET /metrics` (prometheus-client).

Several workers (`livequiz serve --workers N`): `serve` gives every worker one fresh
`PROMETHEUS_MULTIPROC_DIR` before they start, and `/metrics` on any of them answers for all
of them, as prometheus-client documents for multi-process servers (counters and histograms
summed; socket gauges summed over live processes; a process's games gauge per pid, since two
processes may both serve sockets of one game).

Names follow Prometheus conventions: `_total` counters, `_seconds` histograms, base units.
The Telegram bridge's budget use is counted beside its outbox (`transports/telegram/usage.py`)
and shows here too: every metric of the process's registry is served.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Latency buckets for deliveries, from a small game's milliseconds to a 10,000-player reveal.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
REDIS_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

SOCKETS = Gauge("livequiz_sockets", "Open game sockets", ["role", "codec"], multiprocess_mode="livesum")
GAMES = Gauge("livequiz_games", "Games this process holds sockets of, by phase", ["phase"], multiprocess_mode="liveall")
ANSWERS = Counter("livequiz_answers_total", "Answers by outcome: accepted, or the refusal code", ["outcome"])
FANOUT_SECONDS = Histogram(
    "livequiz_fanout_seconds", "From an event's publication to its last frame queued on this process's sockets",
    ["kind"], buckets=LATENCY_BUCKETS,
)
REVEAL_SECONDS = Histogram(
    "livequiz_reveal_seconds", "From a question's close to its reveal event published", buckets=LATENCY_BUCKETS
)
REDIS_SECONDS = Histogram("livequiz_redis_seconds", "Redis round trips of batched game calls", ["call"],
                          buckets=REDIS_BUCKETS)
SEND_QUEUE_DROPS = Counter("livequiz_send_queue_drops_total", "Sockets closed 1013 for falling behind their queue")
RATE_LIMITED = Counter("livequiz_rate_limited_total", "Refusals for going over a rate limit", ["scope"])
RESULTS_STORED = Counter("livequiz_results_stored_total", "Finished games whose results this process wrote to SQL")


#: `SOCKETS`'s children, bound once per (role, codec): `labels()` takes a lock and builds its
#: key on every call, and every socket of a join storm opens one.
_OPEN_SOCKETS: dict[tuple[str, str], Gauge] = {}


def open_sockets(role: str, codec: str) -> Gauge:
    """The open-sockets gauge of one role and codec."""
    gauge = _OPEN_SOCKETS.get((role, codec))
    if gauge is None:
        gauge = _OPEN_SOCKETS[(role, codec)] = SOCKETS.labels(role, codec)
    return gauge


def prepare_multiprocess_dir(data_dir: Path) -> None:
    """For `serve --workers N`: a fresh folder the workers share (before they start)."""
    folder = (data_dir / "metrics").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)


def process_exited() -> None:
    """A worker's live gauges stop counting when it stops."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def metrics(request: Request) -> Response:
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_routes() -> list[Route]:
    return [Route("/metrics", metrics, methods=["GET"])]
