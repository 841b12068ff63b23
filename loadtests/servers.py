"""Start and stop the server processes under test, and read their CPU and memory from /proc.

One server: `livequiz serve` starts its own private Redis (a child process, reported apart).
Two servers: `livequiz redis` first (its URL is the first line it prints), then two
`livequiz serve` with LIVEQUIZ_REDIS_URL set to it. With `redis="cluster"` a local Valkey
Cluster (`loadtests.cluster`: 3 masters, 3 replicas) takes the place of that Redis, for one
server or two. Every process is started in its own session so that it, and only it, can be
stopped together with its children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_redis(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        name = (proc.name() + " " + " ".join(proc.cmdline()[:1])).lower()
        return "redis" in name or "valkey" in name
    return False


def wait_healthy(url: str, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was healthy")
        try:
            r = httpx.get(url + "/healthz", timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url}/healthz not 200 within {timeout}s ({last})")


def server_command() -> list[str]:
    """`python -m gameserver.cli` of this interpreter (the console script may not be on PATH)."""
    return [sys.executable, "-m", "gameserver.cli"]


@dataclass
class ServerSet:
    """The server processes of one run (or none, with --url)."""

    count: int = 1
    workers: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    data_root: Path = Path("artifacts/loadtest/data")
    startup_timeout: float = 60.0
    urls: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)
    redis_proc: subprocess.Popen[Any] | None = None
    logs: list[Any] = field(default_factory=list)
    extra_pids: list[int] = field(default_factory=list)  # --server-pid, with --url
    redis: str = "embedded"  # or "cluster"
    redis_url: str | None = None  # the shared Redis's URL, once started
    cluster: Any = None  # loadtests.cluster's LocalCluster, with redis="cluster"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("LIVEQUIZ_MAX_PLAYERS", "100000")
        # Every simulated player comes from 127.0.0.1: per-address limits would refuse the swarm.
        for limit in ("LIVEQUIZ_IP_JOIN_LIMIT", "LIVEQUIZ_IP_CREATE_LIMIT", "LIVEQUIZ_IP_LOOKUP_MISS_LIMIT",
                      "LIVEQUIZ_MAX_CONNECTIONS_PER_IP"):
            env.setdefault(limit, "0")
        env.update(self.env)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def _log(self, name: str) -> Any:
        self.data_root.mkdir(parents=True, exist_ok=True)
        f = open(self.data_root / f"{name}.log", "wb")
        self.logs.append(f)
        return f

    def start(self) -> list[str]:
        env = self._env()
        if self.redis == "cluster":
            from loadtests.cluster import start_cluster

            self.cluster = start_cluster(self.data_root / "cluster")
            self.redis_url = env["LIVEQUIZ_REDIS_URL"] = self.cluster.url
        elif self.count > 1:
            rport = free_port()
            rdir = self.data_root / "redis"
            rdir.mkdir(parents=True, exist_ok=True)
            self.redis_proc = subprocess.Popen(
                [*server_command(), "redis", "--port", str(rport), "--data-dir", str(rdir)],
                stdout=subprocess.PIPE,
                stderr=self._log("redis"),
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
            assert self.redis_proc.stdout is not None
            line = self.redis_proc.stdout.readline().decode().strip()
            if not line:
                raise RuntimeError("`livequiz redis` printed no URL")
            self.redis_url = env["LIVEQUIZ_REDIS_URL"] = line
            # keep reading its stdout so that it never blocks on a full pipe
            threading.Thread(target=self.redis_proc.stdout.read, daemon=True).start()
        for i in range(self.count):
            port = free_port()
            senv = dict(env)
            senv["LIVEQUIZ_DATA_DIR"] = str(self.data_root / f"server{i}")
            cmd = [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
            if self.workers:
                cmd += ["--workers", str(self.workers)]
            log = self._log(f"server{i}")
            self.procs.append(
                subprocess.Popen(cmd, stdout=log, stderr=log, env=senv, cwd=REPO_ROOT, start_new_session=True)
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(self.urls, self.procs, strict=True):
            wait_healthy(url, self.startup_timeout, proc)
        return self.urls

    def stop(self) -> None:
        """SIGTERM the servers, then (once they are gone) the shared Redis they still use."""
        for group in (self.procs, [self.redis_proc] if self.redis_proc else []):
            for p in group:
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        p.send_signal(signal.SIGTERM)
            for p in group:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)  # its own session: only what we started
                    p.wait(timeout=5)
                # a private Redis left behind by a killed server: same session, same group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGTERM)
        if self.cluster is not None:
            self.cluster.stop()
        for f in self.logs:
            f.close()

    # -- measurement --------------------------------------------------------------------------
    def root_pids(self) -> list[int]:
        return [p.pid for p in self.procs] + list(self.extra_pids)

    def processes(self) -> tuple[list[psutil.Process], list[psutil.Process]]:
        """(server processes, Redis processes): the roots we started and all their children."""
        server: list[psutil.Process] = []
        redis: list[psutil.Process] = []
        roots = [*self.root_pids(), *([self.redis_proc.pid] if self.redis_proc else [])]
        if self.cluster is not None:
            from loadtests.cluster import node_pids

            roots += node_pids(self.cluster)
        for pid in roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    (redis if is_redis(proc) else server).append(proc)
        return server, redis


    def cpu_by_process(self) -> dict[int, float]:
        """CPU seconds (user + system) of each server root process and its non-Redis children."""
        out: dict[int, float] = {}
        for pid in self.root_pids():
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                procs = [p for p in [root, *root.children(recursive=True)] if not is_redis(p)]
                out[pid] = _usage(procs)[0]
        return out


def _usage(procs: list[psutil.Process]) -> tuple[float, int]:
    cpu = 0.0
    rss = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
    return cpu, rss


class Sampler(threading.Thread):
    """Samples CPU seconds and RSS of the server and Redis processes every `interval` seconds."""

    def __init__(self, servers: ServerSet, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.servers = servers
        self.interval = interval
        self.samples: list[tuple[float, float, int, float, int]] = []  # t, cpu, rss, rcpu, rrss
        self._halt = threading.Event()
        self._procs = servers.processes()
        self._refreshed = time.monotonic()

    def snapshot(self) -> tuple[float, float, int, float, int]:
        if time.monotonic() - self._refreshed > 2.0:
            self._procs = self.servers.processes()
            self._refreshed = time.monotonic()
        cpu, rss = _usage(self._procs[0])
        rcpu, rrss = _usage(self._procs[1])
        s = (time.time(), cpu, rss, rcpu, rrss)
        self.samples.append(s)
        return s

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.snapshot()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
