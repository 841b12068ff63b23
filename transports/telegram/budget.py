"""A rolling-window budget of operations for one chat (Telegram's ~20 per minute per group).

An operation holds its slot from the moment the request starts until `window_s` after its
answer came back. Telegram counts a request when it arrives, which is after our start and
before our end, so "start < arrival < end" makes the check conservative: any window of
`window_s` seconds on Telegram's clock sees at most `limit` of our requests. Failed attempts
(a 429, a 400) hold a slot too: Telegram saw them.

Urgent work (a question, its results, the podium) may use the whole window. Background edits
(lobby count, "who answered") only get what urgent work is not expected to need: they may hold
the window minus the larger of `reserve` and the urgent operations of the last window plus
`URGENT_MARGIN` (a host who moves on every 12 s spends ~10 urgent operations a minute, and the
next minute looks like the last one), and never the window's last slot. They are also spread
out (one per `window_s / limit` at most), so a burst of joins or answers cannot spend a whole
window at once. Pure: the clock is an argument, the caller sleeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

URGENT_MARGIN = 2  # a question and its results more than the last window's urgent operations


@dataclass
class Slot:
    start: float
    end: float | None = None  # None while the request is in flight
    urgent: bool = False


class RollingBudget:
    def __init__(self, limit: int, window_s: float, reserve: int | None = None) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a budget needs limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        # by default a fifth of the window (4 of 20: two questions' posts and results) is kept
        self.reserve = limit // 5 if reserve is None else max(0, min(reserve, limit - 1))
        self.background_gap_s = window_s / limit
        self._slots: deque[Slot] = deque()
        self._last_background = float("-inf")

    def _expire(self, now: float) -> None:
        while self._slots and self._slots[0].end is not None and self._slots[0].end + self.window_s <= now:
            self._slots.popleft()

    def in_use(self, now: float) -> int:
        """Slots held at `now` (in flight, or finished less than a window ago)."""
        self._expire(now)
        return sum(1 for s in self._slots if s.end is None or s.end + self.window_s > now)

    def capacity(self, urgent: bool, now: float | None = None) -> int:
        """How many slots this kind of work may hold at `now`: urgent work the whole window;
        background work what the urgent work of the last window (plus a margin) leaves."""
        if urgent:
            return self.limit
        urgent_held = 0 if now is None else self._held(now, urgent=True)
        expected = urgent_held + URGENT_MARGIN if urgent_held else 0  # no game running: the reserve
        return max(0, self.limit - max(self.reserve, expected))

    def wait_s(self, now: float, *, urgent: bool, paced: bool = False) -> float:
        """How long until one more operation of this kind may start (0: now); `paced` ones also
        keep `background_gap_s` from the previous paced one. `inf` only while the slots it needs
        are held by requests still in flight."""
        self._expire(now)
        # the answer can only change when a held slot expires: try now, then each expiry
        expiries = sorted({s.end + self.window_s for s in self._slots if s.end is not None})
        wait = float("inf")
        for at in [now, *(t for t in expiries if t > now)]:
            if self._fits(at, urgent):
                wait = at - now
                break
        if paced:
            wait = max(wait, self._last_background + self.background_gap_s - now)
        return wait

    def _fits(self, at: float, urgent: bool) -> bool:
        if urgent:
            return self._held(at) < self.limit
        # background: within its own share, and never the window's last slot
        return self._held(at, urgent=False) < self.capacity(False, at) and self._held(at) < self.limit - 1

    def _held(self, at: float, urgent: bool | None = None) -> int:
        """Slots held at `at` (of one kind, or all when `urgent` is None)."""
        return sum(
            1 for s in self._slots
            if (s.end is None or s.end + self.window_s > at) and (urgent is None or s.urgent == urgent)
        )

    def begin(self, now: float, *, paced: bool = False, urgent: bool = False) -> Slot:
        """Take a slot for a request starting now; hand it back to `end` when it answered."""
        self._expire(now)
        if paced:
            self._last_background = now
        slot = Slot(now, urgent=urgent)
        self._slots.append(slot)
        return slot

    def restore(self, ended: list[tuple[float, bool]]) -> None:
        """Count operations another process made: (when each answer came back on our clock,
        urgent), so this budget keeps to what that process spent in the last window."""
        for at, urgent in ended:
            self._slots.append(Slot(at, at, urgent))
        self._slots = deque(sorted(self._slots, key=lambda s: float("inf") if s.end is None else s.end))

    def end(self, slot: Slot, now: float) -> None:
        slot.end = max(now, slot.start)
        # keep the deque ordered by end time so that expiry from the left stays correct
        ordered = sorted(self._slots, key=lambda s: float("inf") if s.end is None else s.end)
        self._slots = deque(ordered)
