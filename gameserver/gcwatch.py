"""Garbage-collector pauses: measured, logged when long, and made rare.

A server holding 10,000 sockets has millions of long-lived objects (each connection is a
protocol, a parser, buffers, a Starlette `WebSocket`, a session...). CPython's full (generation
2) collection walks all of them: at 10k players one pass stops the event loop for hundreds of
milliseconds, and the allocation that triggers it is usually the burst that matters most (the
10,000 answers being scored). Three measures:

- `gc.freeze()` after each big wave of long-lived objects (startup, then whenever the
  connection count has grown a lot) moves what exists into the permanent generation, which
  collections skip (see `freeze` for what is collected first); what is frozen and later
  dropped is freed by reference counting as usual, and only reference cycles among frozen
  objects wait for the thaw (`Freezer`, when many sockets have closed: after a 5,000-player
  storm's players left, its full collection freed ~250,000 objects, ~50 a player).
- A higher generation-0 threshold: fewer young collections during bursts.
- `GcHold`: no automatic collection while a big room's question is open (see below).

`GcWatch` records every collection's pause so the load tests and the logs show the effect.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class GcWatch:
    """Times every collection (via `gc.callbacks`); logs those longer than `slow_ms`."""

    slow_ms: float = 50.0
    pauses_ms: list[float] = field(default_factory=list)
    max_kept: int = 10_000
    _started: float | None = None

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:
            return
        pause_ms = (time.perf_counter() - self._started) * 1000
        self._started = None
        if len(self.pauses_ms) < self.max_kept:
            self.pauses_ms.append(pause_ms)
        if pause_ms >= self.slow_ms:
            log.warning(
                "garbage collection of generation %d took %.0f ms (%d collected)",
                info.get("generation", -1), pause_ms, info.get("collected", 0),
            )


class Freezer:
    """Freezes the heap again whenever the number of live connections has grown by `step`
    since the last freeze: each wave of joins is moved out of the collector's way."""

    def __init__(self, step: int = 1000) -> None:
        self.step = step
        self._frozen_at = 0

    def observe(self, connections: int) -> None:
        if connections >= self._frozen_at + self.step:
            freeze(generation=0)
            self._frozen_at = connections
        elif connections <= self._frozen_at - self.step:
            # Many sockets closed: hand the frozen objects back to the collector so cycles
            # among the departed ones are freed (one full pass, while this process is quieter).
            gc.unfreeze()
            self._frozen_at = connections


def freeze(generation: int = 1) -> None:
    """Collect `generation` and the younger ones (so that garbage is not frozen), then freeze
    what survives.

    At start-up (everything the imports and the app built) both young generations are
    collected. A wave of joins (`Freezer`) collects only generation 0: what survived earlier
    young collections since the last freeze is the wave's live connections, and a gen-1 pass
    over it found nothing to free (a 5,000-join storm's five freezes: 0-10 objects freed of
    ~90,000 each, 49-114 ms a pass on a loaded 2-core box, most of the collector's time in the
    storm; a gen-0 pass took 5-10 ms). A cycle that died in generation 1 meanwhile stays
    frozen until the next thaw (`Freezer`, when connections leave), which collects it."""
    gc.collect(generation)
    gc.freeze()


def tune(gen0_threshold: int = 20_000) -> None:
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


class GcHold:
    """Defers automatic collections while a big room's question is open.

    During a 10,000-player answer burst the young generation holds ~100,000 short-lived
    objects (each answer's suspended coroutine chain and future, then the scoring values), and
    a young collection that lands in it stops the loop for 70-200 ms (measured with
    `gc.get_objects(0)` in the collector callback): answers are then timed late and the reveal
    waits. Those objects die by reference counting anyway; only cycles need the collector, and
    they can wait until the reveal has been sent, while players look at the leaderboard.
    Holds are keyed (one per room), and a timer gives the collector back after `max_hold_s`
    whatever happens, so memory stays bounded.
    """

    def __init__(self, max_hold_s: float = 150.0) -> None:
        self.max_hold_s = max_hold_s
        self._holders: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._was_enabled = True

    @property
    def holding(self) -> bool:
        return bool(self._holders)

    def hold(self, key: str) -> None:
        if not self._holders:
            self._was_enabled = gc.isenabled()
            gc.disable()
        self._holders.add(key)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.max_hold_s, self.release_all)

    def release(self, key: str) -> None:
        if key in self._holders:
            self._holders.discard(key)
            if not self._holders:
                self.release_all()

    def release_all(self) -> None:
        self._holders.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._was_enabled:
            gc.enable()
