"""Helpers of the browser tests: HTTP calls, page watching, screenshots, quiz bodies.

The server is started once per session on a free port, with its data under a temporary
directory. It uses LIVEQUIZ_TEST_REDIS_URL when that is set, else starts its own private Redis.
Tests that need a browser are skipped, with the reason, when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("LIVEQUIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

HOST_VIEWPORT = {"width": 1920, "height": 1080}
PHONE_VIEWPORT = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            raw = res.read()
            return res.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw.decode(errors="replace")


@dataclass
class WebServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def create_game(self, quiz: dict[str, Any]) -> dict[str, Any]:
        status, body = http_json("POST", f"{self.base_url}/api/games", quiz)
        assert status == 201, (status, body)
        return dict(body)

    def results(self, pin: str, token: str) -> list[dict[str, Any]]:
        status, body = http_json(
            "GET", f"{self.base_url}/api/games/{pin}/results", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200, (status, body)
        return list(body["results"])

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass
class PageWatch:
    """What a page did that a test must not miss: dialogs (XSS), page errors, CSP violations."""

    name: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        csp = [c for c in self.console if "Content Security Policy" in c]
        missing = [c for c in self.console if "i18n: missing key" in c]
        return [*(f"dialog: {d}" for d in self.dialogs), *(f"error: {e}" for e in self.errors), *csp, *missing]


class Pages:
    """Opens pages in fresh browser contexts (one per person: separate storage) and closes them."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[Any] = []
        self.watches: list[PageWatch] = []

    def open(self, path: str, *, name: str, phone: bool = False, locale: str = "en-US", **ctx: Any) -> Any:
        options: dict[str, Any] = {"viewport": PHONE_VIEWPORT if phone else HOST_VIEWPORT, "locale": locale}
        if phone:
            options |= {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
        options |= ctx
        context = self.browser.new_context(**options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        watch = PageWatch(name)
        self.watches.append(watch)

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: watch.errors.append(str(e)))
        page.on("console", lambda m: watch.console.append(f"{m.type}: {m.text}"))
        page.goto(self.base_url + path)
        return page

    def problems(self) -> list[str]:
        return [f"{w.name}: {p}" for w in self.watches for p in w.problems()]

    def close(self) -> None:
        for context in self.contexts:
            try:
                context.close()
            except Exception:
                pass


def screenshot(page: Any, name: str, **kwargs: Any) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", **kwargs)
    return path


RAW_KEY = re.compile(r"^(?:app|lang|host|play|conn|err|results)\.[a-z_.]+$")


def quiz(title: str, questions: list[tuple[str, list[str], int]], time_limit: int = 30) -> dict[str, Any]:
    return {
        "title": title,
        "questions": [
            {"text": text, "options": options, "correct": correct, "time_limit": time_limit, "type": "select_one"}
            for text, options, correct in questions
        ],
        "settings": {},
    }


def wait_until(page: Any, expression: str, timeout_s: float = 15) -> None:
    """Until `expression` is truthy in the page, polled from here: `page.wait_for_function`
    evaluates a string predicate with `new Function` when it polls, which our CSP refuses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.05)
