"""The big events this process published lately, kept so its hub need not parse their echo.

Part of the fan-out: the store remembers an event here just before the Lua script that
publishes it runs, and the hub (`hub/delivery.py`) takes it back when the same bytes arrive on pub/sub.
"""

from __future__ import annotations

from collections import OrderedDict

from gameserver.envelopes import Envelope

__all__ = ["RecentPublications"]


class RecentPublications:
    """The big events (a reveal, the final results: ~1 MB at 10,000 players) this process
    published lately, by their exact payload. Its hub reads the same bytes back from pub/sub
    and takes the event from here instead of parsing them again (12 ms for a 10k reveal, while
    every player waits); other processes parse as usual, and events keep their pub/sub order.
    Bounded: an entry whose echo never comes (no socket of that game here) ages out."""

    def __init__(self, keep: int = 8, min_bytes: int = 64 * 1024) -> None:
        self.keep = keep
        self.min_bytes = min_bytes
        self._events: OrderedDict[bytes, Envelope] = OrderedDict()

    def add(self, payload: bytes, event: Envelope) -> None:
        if len(payload) >= self.min_bytes:
            self._events[payload] = event
            while len(self._events) > self.keep:
                self._events.popitem(last=False)

    def discard(self, payload: bytes) -> None:
        self._events.pop(payload, None)

    def take(self, payload: bytes) -> Envelope | None:
        """The event published as `payload`, once; None for any other payload."""
        if len(payload) < self.min_bytes:
            return None
        return self._events.pop(payload, None)
