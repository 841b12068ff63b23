"""How much of Telegram's budget the bridge uses, for `GET /metrics` (prometheus-client).

Telegram allows a group about 20 sends and edits a minute; past that it answers 429 and the
chat waits. An operator watches three things, all counted where the outbox takes a budget
slot (`Outbox._begin`), so what is counted is exactly what Telegram saw, retries and refused
attempts included:

- `livequiz_telegram_ops_total{chat, priority}`: operations sent, by chat kind (`group`:
  negative ids; `private`) and priority (`urgent`: a question, its results, the podium;
  `normal`; `background`: lobby counts, "who answered").
- `livequiz_telegram_budget_share`: for every group operation, the share of the group's
  rolling budget held once it started (in flight, or ended less than a window ago, including
  what another process spent, recalled from the ledger): 1.0 is a full window. Its upper
  buckets say how often games ran a group at its limit; `livequiz_telegram_budget_peak_share`
  is the busiest window any group of the process has had (the largest share seen).
- `livequiz_telegram_throttled_total`: 429 answers received (the chat then pauses for
  `retry_after`); with the budget kept it stays at 0.

In `serve --workers N` the counters and the histogram are summed over the workers and the peak
is the largest of theirs (`gameserver.metrics` explains the multi-process mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OPS = Counter(
    "livequiz_telegram_ops_total", "Bot API operations (sends, edits, polls) sent to chats", ["chat", "priority"]
)
BUDGET_SHARE = Histogram(
    "livequiz_telegram_budget_share",
    "Share of a group's rolling operation budget held when one of its operations started",
    buckets=(0.25, 0.5, 0.75, 0.9, 1.0),
)
PEAK_SHARE = Gauge(
    "livequiz_telegram_budget_peak_share", "The busiest rolling window of any group: its share of the budget",
    multiprocess_mode="max",
)
THROTTLED = Counter("livequiz_telegram_throttled_total", "Bot API 429 answers (retry_after honoured)")

_peak = [0.0]


def operation_sent(chat_id: int, priority: str, held: int, limit: int) -> None:
    """One operation started in `chat_id`; `held` of the chat's `limit` slots are now taken."""
    group = chat_id < 0  # Telegram's group and channel ids are negative
    OPS.labels("group" if group else "private", priority).inc()
    if group:
        share = held / limit
        BUDGET_SHARE.observe(share)
        if share > _peak[0]:
            _peak[0] = share
            PEAK_SHARE.set(share)


def throttled() -> None:
    THROTTLED.inc()
