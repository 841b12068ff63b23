"""`python -m loadtests SCENARIO [options]`: run a load scenario, write its report.

Examples:

    python -m loadtests one-game --players 10000 --questions 3 --time-limit 20 --answer-spread 2
    python -m loadtests many-games --games 1000 --players 30 --questions 3 --time-limit 10
    python -m loadtests join-storm --players 10000 --servers 2
    python -m loadtests one-game --url http://127.0.0.1:8000 --server-pid 1234

`--players` counts players per game (one-game and join-storm have one game). Exit status: 0
when the run was correct (no lost answers, no score mismatch, no failed join, not aborted),
1 otherwise, 2 on a usage error. Timing targets are reported, never turned into a failure.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from loadtests.runner import SCENARIOS, Options, Run

DEFAULTS = {
    "one-game": {"players": 1000, "games": 1, "questions": 5},
    "many-games": {"players": 30, "games": 100, "questions": 3},
    "join-storm": {"players": 10000, "games": 1, "questions": 1},
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests", description=__doc__.splitlines()[0])
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("--players", type=int, help="players per game (default: 1000 / 30 / 10000)")
    p.add_argument("--games", type=int, help="games (many-games; default 100)")
    p.add_argument("--questions", type=int, help="questions per game")
    p.add_argument("--time-limit", type=int, default=20, help="seconds per question, 5..120 (default 20)")
    p.add_argument("--options", type=int, default=4, help="options per question, 2..6")
    p.add_argument("--correct-ratio", type=float, default=0.7, help="share of answers that are correct")
    p.add_argument("--answer-ratio", type=float, default=1.0, help="share of players that answer a question")
    p.add_argument(
        "--answer-spread",
        type=float,
        default=2.0,
        help="answers are sent uniformly within this many seconds after the question arrives",
    )
    p.add_argument("--between", type=float, default=1.0, help="seconds from a reveal to the host's next")
    p.add_argument(
        "--stagger",
        type=float,
        help="many-games: start the games over this many seconds (default: the time limit)",
    )
    p.add_argument("--servers", type=int, choices=(1, 2), default=1, help="server processes sharing one Redis")
    p.add_argument("--server-workers", type=int, help="pass --workers N to each `livequiz serve`")
    p.add_argument(
        "--redis",
        choices=("embedded", "cluster"),
        default="embedded",
        help="what the started servers share: `livequiz redis` (with --servers 2; one server keeps its "
        "private one) or a local Valkey Cluster of 3 masters and 3 replicas (loadtests.cluster)",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the servers (repeatable)",
    )
    p.add_argument("--codec", choices=("json", "msgpack"), default="json")
    p.add_argument(
        "--url",
        action="append",
        default=[],
        help="use this running server instead of starting one (twice: two servers)",
    )
    p.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="with --url: pid of a server process to measure (repeatable)",
    )
    p.add_argument("--out", type=Path, help="output directory (default artifacts/loadtest/SCENARIO-TIMESTAMP)")
    p.add_argument("--max-seconds", type=float, default=300.0, help="hard bound of the whole run (default 300)")
    p.add_argument("--client-procs", type=int, help="load-generator processes (default: 1 per 5000 players)")
    p.add_argument(
        "--client-normal-scheduling",
        action="store_true",
        help="leave the client processes under normal scheduling (default: SCHED_BATCH, so that a woken "
        "client does not preempt the server on the shared cores)",
    )
    p.add_argument("--connect-concurrency", type=int, default=200, help="joins in flight at once, in all")
    p.add_argument("--join-rate", type=float, default=0.0, help="joins per second in all (0: as fast as possible)")
    p.add_argument("--source-ips", type=int, help="spread connections over 127.0.0.1..N (default: as needed)")
    p.add_argument("--tolerance-ms", type=float, default=50.0, help="score check tolerance (default 50 ms)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--py-spy", action="store_true", help="profile each server process per phase with py-spy (pip install py-spy)"
    )
    return p


def options_from(ns: argparse.Namespace, argv: list[str]) -> Options:
    d = DEFAULTS[ns.scenario]
    env = {}
    for item in ns.server_env:
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit(f"--server-env wants KEY=VALUE, got {item!r}")
        env[k] = v
    if not 5 <= ns.time_limit <= 120:
        raise SystemExit("--time-limit must be 5..120 seconds")
    games = ns.games if ns.games is not None else d["games"]
    if ns.scenario != "many-games" and games != 1:
        raise SystemExit(f"{ns.scenario} plays one game; use many-games for --games")
    return Options(
        scenario=ns.scenario,
        players=ns.players if ns.players is not None else d["players"],
        games=games,
        questions=ns.questions if ns.questions is not None else d["questions"],
        time_limit=ns.time_limit,
        options=ns.options,
        correct_ratio=ns.correct_ratio,
        answer_ratio=ns.answer_ratio,
        answer_spread=ns.answer_spread,
        between=ns.between,
        stagger=ns.stagger,
        servers=len(ns.url) if ns.url else ns.servers,
        server_workers=ns.server_workers,
        redis=ns.redis,
        codec=ns.codec,
        urls=[u.rstrip("/") for u in ns.url],
        server_pids=ns.server_pid,
        server_env=env,
        out=ns.out,
        max_seconds=ns.max_seconds,
        client_procs=ns.client_procs,
        client_batch=not ns.client_normal_scheduling,
        connect_concurrency=ns.connect_concurrency,
        join_rate=ns.join_rate,
        tolerance_ms=ns.tolerance_ms,
        seed=ns.seed,
        progress=not ns.no_progress,
        source_ips=ns.source_ips,
        pyspy=ns.py_spy,
        command="python -m loadtests " + shlex.join(argv),
    )


def main(argv: list[str] | None = None) -> int:
    from loadtests.report import write_all

    argv = list(sys.argv[1:] if argv is None else argv)
    ns = parser().parse_args(argv)
    opts = options_from(ns, argv)
    run = Run(opts)
    rep = run.execute()
    write_all(rep, run.out)
    print((run.out / "report.md").read_text())
    print(f"report: {run.out}/report.json", file=sys.stderr)
    ok = (
        rep["lost_answers"] == 0
        and rep["score_mismatches"] == 0
        and rep.get("join_failed", 0) == 0
        and not rep.get("aborted")
    )
    return 0 if ok else 1
