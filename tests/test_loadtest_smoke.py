"""The load-test harness: its pure parts, its judging against a fake server with injected
faults, and the CI smoke run against the real server (2 processes, 1 Redis).

Correctness only: no assertion here is about time (the targets are measured by the harness
itself, see docs/performance.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtests.cli import options_from, parser
from loadtests.evaluate import evaluate
from loadtests.metrics import (
    expected_window,
    percentile,
    points,
    score_ok,
    strict_ok,
    summarize,
    tolerance_points,
)
from loadtests.report import markdown, write_all
from loadtests.swarm import (
    R_ACK,
    R_CHOSE_CORRECT,
    R_DEADLINE,
    R_LIMIT,
    R_OPTION,
    R_Q,
    R_QRECV,
    R_REVEAL,
    R_SENT,
    R_SERVER_TIME,
    R_YOU_ANSWERED,
    R_YOU_CORRECT,
    R_YOU_POINTS,
    R_YOU_SCORE,
    RECORD_LEN,
)
from loadtests.wsclient import encode_frame, mask_payload

ROOT = Path(__file__).resolve().parent.parent


# -- pure parts -----------------------------------------------------------------------------------
def test_percentile_nearest_rank() -> None:
    s = list(range(1, 101))
    assert percentile(s, 50) == 50
    assert percentile(s, 99) == 99
    assert percentile(s, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None
    assert summarize([3, 1, 2])["p50"] == 2
    assert summarize([])["n"] == 0


def test_points_formula() -> None:
    assert points(12_000, 20_000) == 600  # DESIGN.md's example
    assert points(20_000, 20_000) == 1000
    assert points(25_000, 20_000) == 1000  # clamped
    assert points(-5, 20_000) == 0
    assert points(10, 20_000) == 1  # 0.5 rounds half up
    assert points(9, 20_000) == 0  # 0.45
    assert points(2_500.9, 5_000) == 500  # fractional ms floored
    assert tolerance_points(50, 5_000) == 10
    assert tolerance_points(50, 20_000) == 3


def test_expected_window_and_score_check() -> None:
    deadline, limit = 100_000, 20_000
    # sent with 12 s left, acked 40 ms later: the server stamped somewhere in between
    exp, lo, hi = expected_window(deadline, limit, deadline - 12_000, deadline - 11_960, 50)
    assert exp == 600
    assert (lo, hi) == (598 - 3, 603)
    assert score_ok(598, True, deadline, limit, deadline - 12_000, deadline - 11_960, 50)
    assert not score_ok(580, True, deadline, limit, deadline - 12_000, deadline - 11_960, 50)
    assert not score_ok(700, True, deadline, limit, deadline - 12_000, deadline - 11_960, 50)
    assert score_ok(0, False, deadline, limit, deadline - 12_000, None, 50)
    assert not score_ok(1, False, deadline, limit, deadline - 12_000, None, 50)
    # the strict check: from the send time alone, ±3 points (50 ms of 20 s)
    assert strict_ok(597, True, deadline, limit, deadline - 12_000, 50)
    assert not strict_ok(596, True, deadline, limit, deadline - 12_000, 50)
    assert strict_ok(0, False, deadline, limit, deadline - 12_000, 50)


def test_client_frame_masking() -> None:
    # RFC 6455 §5.7: a masked "Hello" with key 37 fa 21 3d
    assert encode_frame(0x1, b"Hello", 0x37FA213D) == bytes.fromhex("818537fa213d7f9f4d5158")
    payload = bytes(range(256)) * 3
    assert mask_payload(mask_payload(payload, 0xDEADBEEF), 0xDEADBEEF) == payload
    assert encode_frame(0x2, b"x" * 300, 1)[1] == 0x80 | 126


def _rec(q: int, **kw: Any) -> tuple[Any, ...]:
    r: list[Any] = [None] * RECORD_LEN
    r[R_Q] = q
    r[R_QRECV] = 1_000.0 + 10
    r[R_SERVER_TIME] = 1_000
    r[R_DEADLINE] = 21_000
    r[R_LIMIT] = 20_000
    names = {
        "sent": R_SENT, "option": R_OPTION, "chose_correct": R_CHOSE_CORRECT, "ack": R_ACK,
        "reveal": R_REVEAL, "answered": R_YOU_ANSWERED, "correct": R_YOU_CORRECT,
        "points": R_YOU_POINTS, "score": R_YOU_SCORE, "qrecv": R_QRECV,
    }  # fmt: skip
    for k, v in kw.items():
        r[names[k]] = v
    return tuple(r)


def _player(idx: int, recs: list[tuple[Any, ...]], final: int | None = None) -> tuple[Any, ...]:
    return (idx, 0, 0, 0.0, 50.0, None, 1000, 30_000.0, 29_000.0, final, recs)


def _host(dist: list[int]) -> dict[str, Any]:
    return {
        "game": 0,
        "questions": {0: {"recv": 1_005.0, "server_time": 1_000, "deadline": 21_000, "time_limit_ms": 20_000}},
        "reveals": {0: {"recv": 9_000.0, "distribution": dist, "correct": 1}},
        "forced_next": {},
        "finish_sent": 28_900.0,
        "errors": [],
    }


def test_evaluate_clean_run() -> None:
    # p0: correct, sent with 12 s left -> 600; p1: wrong -> 0; both answered, closed on the last answer
    p0 = _player(0, [_rec(0, sent=9_000.0, option=1, chose_correct=True, ack=9_020.0, reveal=9_100.0,
                          answered=True, correct=True, points=599, score=599)], final=599)  # fmt: skip
    p1 = _player(1, [_rec(0, sent=8_000.0, option=2, chose_correct=False, ack=8_010.0, reveal=9_090.0,
                          answered=True, correct=False, points=0, score=0)], final=0)  # fmt: skip
    ev = evaluate([p0, p1], [_host([0, 1, 1, 0])], [1], 50, go_ms=0.0)
    assert ev["lost_answers"] == 0
    assert ev["score_mismatches"] == 0
    assert ev["distribution_mismatch"] == 0
    assert ev["close_kinds"] == {"all_answered": 1}
    assert ev["reveal_ms"]["max"] == 100.0  # 9_100 - the last send (9_000)
    assert ev["fanout_ms"]["p50"] == 10.0
    assert ev["ack_ms"]["max"] == 20.0
    assert ev["join_s"] == 0.05
    assert ev["results_ms"]["max"] == 100.0  # `finished` at 29_000 - the host's last `next` (28_900)


def test_latencies_are_also_given_per_question() -> None:
    """One late question must show as that question, not only as a fat tail of the whole run."""
    answered = {"sent": 9_000.0, "option": 1, "chose_correct": True, "ack": 9_020.0, "reveal": 9_100.0,
                "answered": True, "correct": True, "points": 599, "score": 599}  # fmt: skip
    players = [_player(i, [_rec(0, **answered), _rec(1, qrecv=1_510.0 + i)]) for i in range(3)]
    ev = evaluate(players, [_host([0, 3, 0, 0])], [1, 1], 50, go_ms=0.0)
    assert ev["fanout_ms_by_question"]["0"]["max"] == 10.0
    assert ev["fanout_ms_by_question"]["1"]["p50"] == 511.0
    assert ev["fanout_ms_by_question"]["1"]["n"] == 3
    assert set(ev["reveal_ms_by_question"]) == {"0"}  # question 1 was never revealed
    assert ev["fanout_ms"]["n"] == 6


def test_results_latency_counts_only_players_who_got_finished() -> None:
    got_it = _player(0, [])
    left_early: tuple[Any, ...] = (1, 0, 0, 0.0, 50.0, None, 1000, 20_000.0, 0.0, None, [])  # closed, no `finished`
    ev = evaluate([got_it, left_early], [_host([0, 0, 0, 0])], [1], 50, go_ms=0.0)
    assert ev["results_ms"]["n"] == 1
    assert ev["results_ms"]["p50"] == 100.0
    no_ending_seen = {**_host([0, 0, 0, 0]), "finish_sent": None}
    assert evaluate([got_it], [no_ending_seen], [1], 50, go_ms=0.0)["results_ms"]["n"] == 0


def test_evaluate_finds_lost_answers_and_bad_scores() -> None:
    base = {"sent": 9_000.0, "reveal": 9_100.0}
    never_acked = _player(0, [_rec(0, **base, option=1, chose_correct=True, answered=False, points=0, score=0)])
    base["ack"] = 9_010.0
    dropped = _player(1, [_rec(0, **base, option=1, chose_correct=True, answered=False, points=0, score=0)])
    overpaid = _player(
        2, [_rec(0, **base, option=1, chose_correct=True, answered=True, correct=True, points=700, score=700)]
    )
    wrong_sum = _player(
        3, [_rec(0, **base, option=2, chose_correct=False, answered=True, correct=False, points=0, score=50)]
    )
    # the distribution holds only the answers of players 2 and 3
    ev = evaluate([never_acked, dropped, overpaid, wrong_sum], [_host([0, 1, 1, 0])], [1], 50, go_ms=0.0)
    assert ev["lost_answers"] == 2
    assert ev["score_mismatches"] == 2
    assert {x["why"] for x in ev["lost_examples"]} == {"never acked", "acked, reveal says answered=false"}
    assert {x["why"] for x in ev["mismatch_examples"]} == {
        "points outside [at ack, at send]",
        "score != sum of points",
    }
    assert ev["score_window_violations"] == 1


def test_report_files(tmp_path: Path) -> None:
    ev = evaluate([], [], [], 50, go_ms=0.0)
    rep = {
        "scenario": "one-game", "players": 0, "games": 1, "questions": 1, "servers": 1, "codec": "json",
        **{k: v for k, v in ev.items()}, "server_cpu_s": 1.5, "rss_per_player_kib": None, "targets": [],
        "_timeline": [(0.0, 0.0, 1 << 20, 0.0, 0), (1.0, 0.5, 2 << 20, 0.1, 0)], "_go_s": 0.0,
    }  # fmt: skip
    rep["_samples"] = {"fanout_ms": [1.0, 2.0, 3.0], "ack_ms": [0.5], "reveal_ms": [], "join_ms": []}
    write_all(rep, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    required = "scenario players games questions servers lost_answers score_mismatches join_s"
    for key in (*required.split(), "fanout_ms", "ack_ms", "reveal_ms", "server_cpu_s", "rss_per_player_kib"):
        assert key in data
    assert "_samples" not in data
    assert (tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"
    assert "lost answers" in markdown(rep)
    rep["fanout_ms_by_question"] = {"0": {"p50": 1.0, "p99": 3.0, "max": 3.0}}
    assert "| 0 | 1.00 / 3.00 / 3.00 | – / – / – |" in markdown(rep)


# -- the harness against a fake server ------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def fake_server(request: pytest.FixtureRequest) -> Iterator[str]:
    port = _free_port()
    fault = getattr(request, "param", None)
    cmd = [sys.executable, "-m", "loadtests.fakeserver", "--port", str(port)]
    proc = subprocess.Popen([*cmd, *(["--fault", fault] if fault else [])], cwd=ROOT, env=_env())
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _harness(args: list[str], out: Path, timeout: float) -> tuple[int, dict[str, Any]]:
    cmd = [sys.executable, "-m", "loadtests", *args, "--out", str(out), "--no-progress"]
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert (out / "report.json").exists(), done.stdout + done.stderr
    return done.returncode, json.loads((out / "report.json").read_text())


@pytest.mark.alone  # each answer's points are checked against its send time, within a tolerance
def test_harness_against_fake_server(fake_server: str, tmp_path: Path) -> None:
    args = ["one-game", "--url", fake_server, "--players", "60", "--questions", "2", "--time-limit", "5",
            "--answer-spread", "1", "--codec", "msgpack", "--max-seconds", "40"]  # fmt: skip
    rc, rep = _harness(args, tmp_path, 60)
    assert (rep["joined"], rep["answers_acked"]) == (60, 120)
    assert (rep["lost_answers"], rep["score_mismatches"]) == (0, 0)
    assert rep["codec_fallbacks"] == 0
    assert rc == 0


@pytest.mark.parametrize(
    ("fake_server", "lost", "mismatched"),
    [("lose:7", True, False), ("score:300", False, True)],
    indirect=["fake_server"],
)
def test_harness_notices_faults(fake_server: str, tmp_path: Path, lost: bool, mismatched: bool) -> None:
    args = ["one-game", "--url", fake_server, "--players", "40", "--questions", "2", "--time-limit", "5",
            "--answer-spread", "1", "--correct-ratio", "1", "--max-seconds", "40",
            "--tolerance-ms", "500"]  # fmt: skip
    rc, rep = _harness(args, tmp_path, 60)
    # the fake is slow (it broadcasts inline): a wide tolerance keeps lag apart from the faults
    assert (rep["lost_answers"] > 0) is lost
    assert (rep["score_mismatches"] > 0) is mismatched
    assert (rep["score_window_violations"] > 0) is mismatched
    assert rc == 1


# -- the CI smoke run: the real server, 2 processes sharing 1 Redis -------------------------------
@pytest.mark.slow
@pytest.mark.alone  # each answer's points are checked against its send time, within a tolerance
@pytest.mark.timeout(90)
def test_smoke_300_players_two_servers(tmp_path: Path) -> None:
    pytest.importorskip("gameserver.cli")
    args = ["one-game", "--players", "300", "--questions", "3", "--time-limit", "5", "--answer-spread", "2",
            "--correct-ratio", "0.7", "--servers", "2", "--max-seconds", "55"]  # fmt: skip
    rc, rep = _harness(args, tmp_path, 80)
    keys = ("joined", "join_errors", "answers_acked", "answers_refused", "lost_answers", "score_mismatches")
    summary = {k: rep.get(k) for k in (*keys, "notes", "lost_examples", "mismatch_examples")}
    assert rep["servers"] == 2, summary
    assert not rep["aborted"], summary
    assert rep["joined"] == 300, summary
    assert rep["answers_sent"] == rep["answers_acked"] == 900, summary
    assert rep["lost_answers"] == 0, summary
    assert rep["score_mismatches"] == 0, summary
    assert rep["distribution_mismatch"] == 0, summary
    assert rep["missing_questions"] == rep["missing_reveals"] == 0, summary
    assert rc == 0, summary


def test_client_processes_yield_to_the_server() -> None:
    # In a child process: the scheduling class sticks to whoever calls it.
    code = (
        "import os\n"
        "from loadtests.swarm import yield_to_the_server\n"
        "assert yield_to_the_server()\n"
        "print(os.sched_getscheduler(0) == os.SCHED_BATCH)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "True"


def test_batch_scheduling_of_the_clients_is_the_default_and_can_be_turned_off() -> None:
    assert options_from(parser().parse_args(["one-game"]), []).client_batch is True
    ns = parser().parse_args(["one-game", "--client-normal-scheduling"])
    assert options_from(ns, []).client_batch is False
