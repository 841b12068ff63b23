"""The clock benchmark runs end to end at a tiny size and leaves the socket path stamping with
the system clock (its figures are never asserted: timings on a shared box are noise)."""

from __future__ import annotations

import sys
import time

import pytest

from benchmarks import bench_clock
from gameserver import wsprotocol


def test_it_prints_every_variant_and_restores_the_real_stamp(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_clock", "--rounds", "2", "--calls", "100"])
    bench_clock.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" best ")[0].strip() for line in lines] == [
        "stamp (system)", "token bucket (system)", "stamp (wrapped)", "token bucket (wrapped)",
        "stamp (time.time_ns inline, before)",
    ]
    assert wsprotocol._wall_ns is time.time_ns
