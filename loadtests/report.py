"""Write a run's report: report.json, report.md and latency.png into the output directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _redis_lines(info: dict[str, Any] | None) -> list[str]:
    """The Redis nodes' own INFO deltas (loadtests.redisinfo), from before the joins to the game's end."""
    if not info:
        return []
    total = info["total"]
    lines = [
        f"- Redis ({info['shape']}, INFO): masters {_fmt(total['master_cpu_s'])} CPU s, replicas "
        f"{_fmt(total['replica_cpu_s'])} s; commands on masters {_fmt(sum(total['commands'].values()))} "
        f"(top: {dict(list(total['commands'].items())[:6])}); bytes in {_fmt(total['net_in_bytes'])}, "
        f"out {_fmt(total['net_out_bytes'])}, to replicas {_fmt(total['repl_out_bytes'])}",
    ]
    for address, node in total["nodes"].items():
        lines.append(
            f"  - {address} {node['role']}: {_fmt(node['cpu_s'])} CPU s, {_fmt(node['commands'])} commands, "
            f"{_fmt(node['net_out_bytes'])} bytes out"
        )
    return lines


def public(rep: dict[str, Any]) -> dict[str, Any]:
    """The report without its raw samples (keys starting with `_`)."""
    return {k: v for k, v in rep.items() if not k.startswith("_")}


def write_json(rep: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(public(rep), indent=2, default=str) + "\n")


def markdown(rep: dict[str, Any]) -> str:
    r = rep
    lines = [
        f"# Load test: {r['scenario']}",
        "",
        f"`{r.get('command', '')}`",
        "",
        f"{_fmt(r['players'])} players in {_fmt(r['games'])} game(s), {r['questions']} question(s), "
        f"{r['servers']} server process(es), codec {r.get('codec')}, "
        f"{r.get('client_procs')} client process(es); "
        f"run took {_fmt(r.get('duration_s'))} s" + (" — **aborted**" if r.get("aborted") else "") + ".",
        "",
        "## Correctness",
        "",
        "| check | value |",
        "|---|---|",
        f"| joined / failed | {_fmt(r.get('joined'))} / {_fmt(r.get('join_failed'))} {r.get('join_errors') or ''} |",
        f"| answers sent / acked | {_fmt(r.get('answers_sent'))} / {_fmt(r.get('answers_acked'))} |",
        f"| answers refused | {r.get('answers_refused') or 0} |",
        f"| **lost answers** | **{_fmt(r['lost_answers'])}** |",
        f"| distribution mismatch | {_fmt(r.get('distribution_mismatch'))} |",
        f"| **score mismatches** (tolerance ±{_fmt(r.get('score_tolerance_ms'))} ms = "
        f"±{_fmt(r.get('score_tolerance_points'))} points) | **{_fmt(r['score_mismatches'])}** |",
        f"| score window violations (outside [at ack, at send]: not lag) | {_fmt(r.get('score_window_violations'))} |",
        f"| missing questions / reveals | {_fmt(r.get('missing_questions'))} / {_fmt(r.get('missing_reveals'))} |",
        f"| disconnected | {_fmt(r.get('disconnected'))} |",
        f"| question closes | {r.get('close_kinds')} |",
        "",
        "## Latency (ms)",
        "",
        "| measure | n | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in (
        ("join_ms", "join (connect → joined)"),
        ("fanout_ms", "question fan-out (arrival − server_time)"),
        ("ack_ms", "answer ack (ack − send)"),
        ("reveal_ms", "reveal (arrival − close)"),
        ("fanout_app_ms", "fan-out, as the client process handled it"),
        ("ack_app_ms", "ack, as the client process handled it"),
        ("reveal_app_ms", "reveal, as the client process handled it"),
        ("reveal_spread_ms", "reveal spread (arrival − host's arrival)"),
        ("results_ms", "final results (arrival − the host's ending message)"),
        ("score_dev_points", "points: expected(send) − got"),
    ):
        s = r.get(key) or {}
        lines.append(
            f"| {label} | {_fmt(s.get('n'))} | {_fmt(s.get('p50'))} | {_fmt(s.get('p90'))} | "
            f"{_fmt(s.get('p99'))} | {_fmt(s.get('max'))} |"
        )
    by_question = [
        (q, (r.get("fanout_ms_by_question") or {}).get(q) or {}, (r.get("reveal_ms_by_question") or {}).get(q) or {})
        for q in sorted(set(r.get("fanout_ms_by_question") or {}) | set(r.get("reveal_ms_by_question") or {}), key=int)
    ]
    if by_question:
        lines += ["", "| question | fan-out p50 / p99 / max | reveal p50 / p99 / max |", "|---|---|---|"]
        lines += [
            f"| {q} | {_fmt(f.get('p50'))} / {_fmt(f.get('p99'))} / {_fmt(f.get('max'))} | "
            f"{_fmt(v.get('p50'))} / {_fmt(v.get('p99'))} / {_fmt(v.get('max'))} |"
            for q, f, v in by_question
        ]
    lines += [
        "",
        "Arrival = the kernel's receive stamp at the player's socket; \"as the client process handled "
        "it\" adds the load generator's own lag (it shares the CPU with the server).",
        "",
        f"Join: all joined {_fmt(r.get('join_s'))} s after the start of the join phase.",
        "",
        "## Server resources",
        "",
        f"- server CPU: {_fmt(r.get('server_cpu_s'))} s (by phase {r.get('server_cpu_s_by_phase')}); "
        f"Redis CPU {_fmt(r.get('redis_cpu_s'))} s; load generator CPU {_fmt(r.get('client_cpu_s'))} s",
        f"- server RSS: {r.get('server_rss_mib')} MiB; Redis RSS {r.get('redis_rss_mib')} MiB",
        f"- machine: {r.get('machine')}",
        f"- RSS per connected player: {_fmt(r.get('rss_per_player_kib'))} KiB added by the joins "
        f"({_fmt(r.get('rss_total_per_player_kib'))} KiB total RSS / players); "
        f"Redis {_fmt(r.get('redis_rss_per_player_kib'))} KiB",
        f"- server CPU by process: {r.get('server_cpu_s_by_process')} s",
        *_redis_lines(r.get("redis_info")),
        "",
        "## Targets",
        "",
        "| target | value | met |",
        "|---|---|---|",
    ]
    for t in r.get("targets", []):
        lines.append(f"| {t['target']} | {_fmt(t['value'])} | {'yes' if t['met'] else '**no**'} |")
    if r.get("notes") or r.get("host_errors") or r.get("client_errors"):
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in r.get("notes", [])]
        if r.get("host_errors"):
            lines.append(f"- host saw: {', '.join(r['host_errors'])}")
        if r.get("client_errors"):
            lines.append(f"- players got errors: {r['client_errors']}")
    for key in ("lost_examples", "mismatch_examples"):
        if r.get(key):
            lines += ["", f"First {key.replace('_', ' ')}:", "", "```"]
            lines += [json.dumps(x) for x in r[key][:10]]
            lines += ["```"]
    return "\n".join(lines) + "\n"


def plot(rep: dict[str, Any], path: Path) -> None:
    """CDFs of the latencies (log x) and the server's CPU/RSS over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = rep.get("_samples", {})
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for key, label in (
        ("join_ms", "join"),
        ("fanout_ms", "fan-out"),
        ("ack_ms", "ack"),
        ("reveal_ms", "reveal"),
        ("results_ms", "final results"),
    ):
        vals = sorted(v for v in samples.get(key, []) if v is not None)
        if not vals:
            continue
        n = len(vals)
        xs = [max(v, 0.01) for v in vals]
        ys = [(i + 1) / n for i in range(n)]
        s = rep.get(key) or {}
        line = ax.plot(xs, ys, label=f"{label} (p50 {s.get('p50')}, p99 {s.get('p99')} ms, n={n})")
        app_key = key.replace("_ms", "_app_ms")
        app = sorted(v for v in samples.get(app_key, []) if v is not None)
        if app:
            app_p99 = (rep.get(app_key) or {}).get("p99")
            ax.plot(
                [max(v, 0.01) for v in app],
                [(i + 1) / len(app) for i in range(len(app))],
                color=line[0].get_color(),
                ls=":",
                lw=1,
                label=f"{label}, client-handled (p99 {app_p99} ms)",
            )
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log)")
    ax.set_ylabel("fraction of samples ≤ x")
    ax.axhline(0.99, color="grey", lw=0.5, ls="--")
    ax.set_title(f"{rep['scenario']}: {rep['players']:,} players, {rep['games']} game(s), {rep['servers']} server(s)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)

    ax = axes[1]
    tl = rep.get("_timeline") or []
    if len(tl) >= 2:
        t0 = rep.get("_go_s") or tl[0][0]
        ts = [s[0] - t0 for s in tl]
        cpu = [0.0] + [
            100.0 * (tl[i][1] - tl[i - 1][1]) / max(1e-6, tl[i][0] - tl[i - 1][0]) for i in range(1, len(tl))
        ]
        rcpu = [0.0] + [
            100.0 * (tl[i][3] - tl[i - 1][3]) / max(1e-6, tl[i][0] - tl[i - 1][0]) for i in range(1, len(tl))
        ]
        ax.plot(ts, cpu, label="server CPU %", color="tab:red")
        ax.plot(ts, rcpu, label="Redis CPU %", color="tab:orange")
        ax.set_xlabel("s since the join phase began")
        ax.set_ylabel("CPU % (100 = one core)")
        ax2 = ax.twinx()
        ax2.plot(ts, [s[2] / 2**20 for s in tl], label="server RSS MiB", color="tab:blue")
        ax2.set_ylabel("RSS MiB")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
        ax.set_title("server processes")
    else:
        ax.text(0.5, 0.5, "no server process sampled (--url without --server-pid)", ha="center")
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(rep: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(rep, out / "report.json")
    (out / "report.md").write_text(markdown(rep))
    plot(rep, out / "latency.png")
