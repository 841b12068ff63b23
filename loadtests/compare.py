"""Put several runs side by side: one Markdown table row per report.json.

python -m loadtests.compare artifacts/loadtest/*/report.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Column = tuple[str, Callable[[dict[str, Any], Path], Any]]
COLUMNS: list[Column] = [
    ("run", lambda r, p: p.parent.name),
    ("scenario", lambda r, p: r["scenario"]),
    ("players", lambda r, p: f"{r['players']:,}"),
    ("games", lambda r, p: r["games"]),
    ("srv", lambda r, p: r["servers"]),
    ("codec", lambda r, p: r.get("codec")),
    ("joined", lambda r, p: f"{r.get('joined', 0):,}"),
    ("failed", lambda r, p: r.get("join_failed")),
    ("join_s", lambda r, p: r.get("join_s")),
    ("join p50/p99 ms", lambda r, p: _pair(r.get("join_ms"))),
    ("fan-out p50/p99/max ms", lambda r, p: _pair(r.get("fanout_ms"), ("p50", "p99", "max"))),
    ("ack p50/p99 ms", lambda r, p: _pair(r.get("ack_ms"))),
    ("reveal p50/p99 ms", lambda r, p: _pair(r.get("reveal_ms"))),
    ("results p50/p99 ms", lambda r, p: _pair(r.get("results_ms"))),
    ("client-handled p99 fan-out/ack/reveal ms", lambda r, p: _app_p99(r)),
    ("lost", lambda r, p: r.get("lost_answers")),
    ("mismatch", lambda r, p: r.get("score_mismatches")),
    ("window viol.", lambda r, p: r.get("score_window_violations")),
    ("srv CPU s", lambda r, p: r.get("server_cpu_s")),
    ("Redis CPU s", lambda r, p: r.get("redis_cpu_s")),
    ("KiB/player", lambda r, p: r.get("rss_per_player_kib")),
    ("other CPU s", lambda r, p: (r.get("machine") or {}).get("other_cpu_s")),
    ("aborted", lambda r, p: "yes" if r.get("aborted") else ""),
]


def _num(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"


def _pair(s: dict[str, Any] | None, keys: tuple[str, ...] = ("p50", "p99")) -> str:
    if not s:
        return "–"
    return " / ".join(_num(s.get(k)) for k in keys)


def _app_p99(r: dict[str, Any]) -> str:
    """The three p99s as the client processes handled the messages (older reports: –)."""
    keys = ("fanout_app_ms", "ack_app_ms", "reveal_app_ms")
    if not any(r.get(k) for k in keys):
        return "–"
    return " / ".join(_num((r.get(k) or {}).get("p99")) for k in keys)


def table(paths: list[Path]) -> str:
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    sep = "|" + "---|" * len(COLUMNS)
    rows = []
    for p in paths:
        r = json.loads(p.read_text())
        rows.append("| " + " | ".join(str(f(r, p)) for _, f in COLUMNS) + " |")
    return "\n".join([head, sep, *rows]) + "\n"


def main() -> None:
    print(table([Path(a) for a in sys.argv[1:]]), end="")


if __name__ == "__main__":
    main()
