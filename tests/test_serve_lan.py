"""`livequiz serve --lan`: a real server process that listens on every interface and puts the
address phones can open (the machine's LAN address, or LIVEQUIZ_PUBLIC_URL) in the lobby's
join link and QR code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gameserver.lan import lan_address, lan_public_url
from tests.browser.support import free_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def lan_server(tmp_path: Path, redis_url: str, public_url: str | None) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LIVEQUIZ_PUBLIC_URL"}
    env.update({"LIVEQUIZ_DATA_DIR": str(tmp_path), "LIVEQUIZ_REDIS_URL": redis_url})
    if public_url is not None:
        env["LIVEQUIZ_PUBLIC_URL"] = public_url
    process = subprocess.Popen(
        [sys.executable, "-m", "gameserver.cli", "serve", "--lan", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (process.stdout.read() if process.stdout else b"").decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve --lan did not become healthy"
                time.sleep(0.2)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def join_url(port: int, host: str = "127.0.0.1") -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/api/join/123456", timeout=5) as res:
        return str(json.loads(res.read())["url"])


def test_serve_lan_listens_everywhere_and_names_the_lan_address(tmp_path: Path, redis_url: str) -> None:
    address = lan_address()
    with lan_server(tmp_path, redis_url, None) as (port, process):
        expected = f"{lan_public_url(port)}/play?pin=123456"
        if address is not None:
            assert expected == f"http://{address}:{port}/play?pin=123456"
            assert join_url(port, address) == expected  # reachable on the LAN address itself
        assert join_url(port) == expected  # whatever address the host page was opened with
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/qr.svg?pin=123456", timeout=5) as res:
            assert expected.encode() in res.read()  # the QR code encodes the LAN link
        process.terminate()
        out = (process.communicate(timeout=10)[0] or b"").decode()
        assert f"Players join at {lan_public_url(port)}/play" in out


def test_public_url_wins_over_the_lan_address(tmp_path: Path, redis_url: str) -> None:
    with lan_server(tmp_path, redis_url, "https://quiz.school.example/") as (port, _):
        assert join_url(port) == "https://quiz.school.example/play?pin=123456"


@pytest.mark.parametrize("configured", ["", "http://10.0.0.7:9000"])
def test_lan_public_url_prefers_the_setting(monkeypatch: pytest.MonkeyPatch, configured: str) -> None:
    monkeypatch.setenv("LIVEQUIZ_PUBLIC_URL", configured)
    url = lan_public_url(8123)
    if configured:
        assert url == configured
    else:
        assert url == f"http://{lan_address() or '127.0.0.1'}:8123"
