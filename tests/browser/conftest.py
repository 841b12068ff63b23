"""Browser tests: a real `livequiz serve` process and Debian's Chromium driven by Playwright.

The server is started once per session on a free port, with its data under a temporary
directory. It uses LIVEQUIZ_TEST_REDIS_URL when that is set, else starts its own private Redis.
Tests that need a browser are skipped, with the reason, when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import premigrated_sqlite
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, ROOT, Pages, WebServer, free_port


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    data_dir = tmp_path_factory.mktemp("livequiz-web")
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "LIVEQUIZ_DATA_DIR": str(data_dir),
            "LIVEQUIZ_LOBBY_INTERVAL_MS": "100",
            "LIVEQUIZ_SWEEP_INTERVAL_MS": "300",
        }
    )
    env.pop("LIVEQUIZ_REDIS_URL", None)
    env.pop("LIVEQUIZ_PUBLIC_URL", None)
    if os.environ.get("LIVEQUIZ_TEST_REDIS_URL"):
        env["LIVEQUIZ_REDIS_URL"] = os.environ["LIVEQUIZ_TEST_REDIS_URL"]
    premigrated_sqlite.prepare(data_dir, env)  # a start that skips the migrations
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gameserver.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )
    server = WebServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 40
    while True:
        if process.poll() is not None:
            pytest.fail(f"livequiz serve exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=2) as res:
                if res.status == 200:
                    break
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"livequiz serve did not become healthy:\n{server.log_tail()}")
        time.sleep(0.15)
    yield server
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, which would break every asyncio test collected after this package.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def pages(browser: Any, web_server: WebServer) -> Iterator[Pages]:
    p = Pages(browser, web_server.base_url)
    yield p
    p.close()
