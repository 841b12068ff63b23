"""Settings from `LIVEQUIZ_` variables: a bad value is refused at start, in one line naming the
variable, its value and the rule, not as a traceback through pydantic or from deep inside the
server; and the Redis pool's size reaches the open files a process keeps for itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gameserver.openfiles import DEFAULT_REDIS_POOL_SIZE, RESERVED_FILES, connection_limit, reserved_files
from gameserver.settings import BadSettings, Settings


def test_the_redis_pool_is_256_connections_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVEQUIZ_REDIS_POOL_SIZE", raising=False)
    assert Settings().redis_pool_size == DEFAULT_REDIS_POOL_SIZE == 256
    monkeypatch.setenv("LIVEQUIZ_REDIS_POOL_SIZE", "12")
    assert Settings().redis_pool_size == 12


AT_LEAST_2 = "Input should be greater than or equal to 2"
AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize(("value", "rule"), [
    ("0", AT_LEAST_2),
    ("1", AT_LEAST_2),  # on one Redis the subscription would hold the only connection
    ("-5", AT_LEAST_2),
    ("2.5", AN_INTEGER),
    ("lots", AN_INTEGER),
    ("", AN_INTEGER),
])
def test_a_bad_pool_size_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str, rule: str) -> None:
    monkeypatch.setenv("LIVEQUIZ_REDIS_POOL_SIZE", value)
    with pytest.raises(BadSettings) as refused:
        Settings()
    assert str(refused.value) == f"bad settings:\n  LIVEQUIZ_REDIS_POOL_SIZE={value!r}: {rule}"
    assert refused.value.code == "bad_settings"


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEQUIZ_REDIS_POOL_SIZE", "1")
    monkeypatch.setenv("LIVEQUIZ_MAX_PLAYERS", "many")
    with pytest.raises(BadSettings) as refused:
        Settings()
    lines = str(refused.value).splitlines()
    assert lines[0] == "bad settings:" and len(lines) == 3
    assert {line.split("=")[0].strip() for line in lines[1:]} == {"LIVEQUIZ_REDIS_POOL_SIZE", "LIVEQUIZ_MAX_PLAYERS"}


def test_a_value_given_in_code_is_checked_the_same() -> None:
    with pytest.raises(BadSettings, match=r"LIVEQUIZ_REDIS_POOL_SIZE=0: Input should be greater than or equal to 2"):
        Settings(redis_pool_size=0)


def test_the_files_kept_for_the_process_follow_the_pool_size() -> None:
    assert RESERVED_FILES == reserved_files(DEFAULT_REDIS_POOL_SIZE)
    assert reserved_files(1000) - reserved_files(10) == 990
    assert connection_limit(0, files=20_000) == 20_000 - RESERVED_FILES  # the default pool
    assert connection_limit(0, files=20_000, redis_pool_size=16) == 20_000 - reserved_files(16)
    assert connection_limit(0, files=20_000, redis_pool_size=10_000) == 20_000 - reserved_files(10_000)
    assert connection_limit(0, files=1_000, redis_pool_size=2_000) == 1  # at least 1, as before


@pytest.mark.parametrize(("value", "rule"), [("1", AT_LEAST_2), ("lots", AN_INTEGER)])
def test_livequiz_serve_stops_at_start_with_one_line_per_bad_variable(tmp_path: Path, value: str, rule: str) -> None:
    """The real command: exit status 1, the variable named, no traceback, nothing started
    (no Redis is given: a server that got as far as starting would start a private one)."""
    env = {"PATH": "/usr/bin:/bin", "LIVEQUIZ_REDIS_POOL_SIZE": value, "LIVEQUIZ_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "gameserver.cli", "serve", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert done.stderr.startswith(f"livequiz: bad settings:\n  LIVEQUIZ_REDIS_POOL_SIZE={value!r}: {rule}"), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # neither a database nor a Redis was started
