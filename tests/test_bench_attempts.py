"""The attempts benchmark runs end to end (a small, bounded run; its figures are not judged
here, only that every attempt started, answered and finished without an error)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_attempts_runs_clean() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.bench_attempts", "--attempts", "5", "--questions", "2",
         "--max-seconds", "60"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "5 attempts done, 0 cut off" in done.stdout, done.stdout
    assert "answer (PUT): n=10 " in done.stdout and "errors: none" in done.stdout, done.stdout
