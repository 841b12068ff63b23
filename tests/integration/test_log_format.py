"""`LIVEQUIZ_LOG_FORMAT=json`: every line a real server writes is one JSON object a collector
can read (our loggers, uvicorn's own and its access log alike); the default stays text."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from tests.support import start_server


def test_json_log_format_writes_one_object_per_line(tmp_path: Path, redis_url: str) -> None:
    server = start_server(tmp_path / "json", redis_url, extra_env={"LIVEQUIZ_LOG_FORMAT": "json"}, log_level="info")
    try:
        assert httpx.get(server.base_url + "/healthz", timeout=10).status_code == 200
        assert httpx.get(server.base_url + "/no-such-page", timeout=10).status_code == 404
    finally:
        server.stop()
    lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    records = [orjson.loads(line) for line in lines]  # raises on any line that is not JSON
    assert all({"time", "level", "logger", "pid", "message"} <= record.keys() for record in records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/healthz" in r["message"] and "200" in r["message"] for r in access)
    assert any("/no-such-page" in r["message"] and "404" in r["message"] for r in access)
    assert any(r["logger"].startswith("livequiz") or r["logger"].startswith("gameserver") for r in records), (
        "our own loggers write JSON too")


def test_text_log_format_is_the_default(tmp_path: Path, redis_url: str) -> None:
    server = start_server(tmp_path / "text", redis_url, log_level="info")
    try:
        assert httpx.get(server.base_url + "/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
    text = server.log_path.read_text()
    assert "GET /healthz" in text
    assert not any(line.startswith("{") for line in text.splitlines())
