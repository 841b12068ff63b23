"""The fan-out benchmark runs end to end at a tiny size (its figures are for docs/performance.md,
never asserted here: timings on a shared box are noise)."""

from __future__ import annotations

from benchmarks.bench_fanout import hub_python_us, write_floor_ms


def test_the_write_floor_is_measured_over_real_sockets() -> None:
    runs = write_floor_ms(sockets=20, repeat=2)
    assert len(runs) == 2 and all(ms > 0 for ms in runs)


def test_the_hub_python_per_socket_is_measured_for_both_cases() -> None:
    result = hub_python_us(sockets=50, repeat=1)
    assert set(result) == {"question", "reveal_and_leaderboard"} and all(us > 0 for us in result.values())
