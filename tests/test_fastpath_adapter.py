"""Contract of `gameserver.fastpath_adapter`: the private internals of asyncio, websockets and
uvicorn that the fast socket path relies on are there and behave as it assumes. On a library
version that changed them this fails, loudly and by name, and `livequiz serve` refuses to start."""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from gameserver import fastpath_adapter
from gameserver.fastpath_adapter import between_frames, incompatibilities, queue_reader_waiting, unmask

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_versions_are_compatible() -> None:
    assert incompatibilities() == []


def test_the_pins_match_the_supported_versions() -> None:
    pinned = dict(
        line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for package, (lowest, ceiling) in fastpath_adapter.SUPPORTED.items():
        assert pinned[package] == importlib.metadata.version(package), package
        assert fastpath_adapter._at_least(pinned[package], lowest), package
        assert not fastpath_adapter._at_least(pinned[package], ceiling), package
        assert f"<{ceiling}" in (ROOT / "pyproject.toml").read_text(), f"pyproject bounds {package} below {ceiling}"


def test_an_unsupported_version_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "99.0" if name == "websockets" else real(name))
    problems = incompatibilities()
    assert any(p.startswith("websockets 99.0 is not in") for p in problems), problems


def test_a_changed_uvicorn_class_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    base = fastpath_adapter.WebSocketProtocolBase
    monkeypatch.delattr(base, "handle_ping")
    assert "uvicorn: WebSocketsSansIOProtocol.handle_ping is gone" in incompatibilities()


async def test_queue_reader_waiting() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    assert not queue_reader_waiting(queue)  # nobody waits
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert queue_reader_waiting(queue)
    queue.put_nowait(1)
    assert await getter == 1
    queue.put_nowait(2)
    assert not queue_reader_waiting(queue)  # something is queued


def test_between_frames_follows_the_parser() -> None:
    from websockets.frames import Frame
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    conn = ServerProtocol()
    conn.receive_data(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    (request,) = conn.events_received()
    assert isinstance(request, Request)
    assert not between_frames(conn)  # handshake not answered: not open
    conn.send_response(conn.accept(request))
    assert between_frames(conn)
    mask = b"\x01\x02\x03\x04"
    frame = b"\x81\x82" + mask + unmask(b"hi", mask)  # masking is its own inverse
    conn.receive_data(frame[:3])
    assert not between_frames(conn)  # inside a frame
    conn.receive_data(frame[3:])
    (message,) = conn.events_received()
    assert isinstance(message, Frame)
    assert message.data == b"hi"
    assert between_frames(conn)
    conn.receive_data(b"\x01\x81" + mask + unmask(b"a", mask))  # first fragment of a message
    assert not between_frames(conn)


@pytest.mark.parametrize("package", ["websockets"])
def test_serve_refuses_to_start_on_an_unsupported_version(tmp_path: Path, package: str) -> None:
    code = (
        "import importlib.metadata as m, sys; real = m.version;"
        f"m.version = lambda n: '99.0' if n == {package!r} else real(n);"
        "from gameserver.cli import main; sys.exit(main(['serve', '--port', '0']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert f"{package} 99.0 is not in" in done.stderr
