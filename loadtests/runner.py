"""Run one scenario end to end: servers, games, host, client processes, judging, report.

Timeline of a run: start the servers (unless --url) → create the games over HTTP → connect the
hosts → spawn the client processes and wait until each is ready → `go`: every process joins its
players (the join phase, timed from `go`) → the hosts start their games (staggered for
many-games) and drive them question by question → every player closes on `finished` → the
processes hand back their records → judge → report. The whole run is bounded by
--max-seconds: past it the hosts end their games, the processes are told to stop, and the
report is written from what was seen, marked `aborted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing as mp
import os
import queue as queue_mod
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from loadtests.evaluate import evaluate
from loadtests.host import Host, create_games, make_quiz, split_url
from loadtests.metrics import tolerance_points
from loadtests.redisinfo import NodeStats
from loadtests.redisinfo import delta as redis_delta
from loadtests.redisinfo import snapshot as redis_snapshot
from loadtests.servers import Sampler, ServerSet
from loadtests.swarm import SwarmConfig, new_loop, now_ms, raise_nofile, worker_main

SCENARIOS = ("one-game", "many-games", "join-storm")

# the targets, per scenario: (report key, sub key, bound, description)
TARGETS: dict[str, list[tuple[str, str | None, float, str]]] = {
    "one-game": [
        ("fanout_ms", "p99", 150, "question fan-out p99 <= 150 ms"),
        ("ack_ms", "p99", 100, "answer-ack p99 <= 100 ms"),
        ("reveal_ms", "p99", 300, "reveal p99 <= 300 ms"),
        ("lost_answers", None, 0, "0 lost answers"),
        ("score_mismatches", None, 0, "0 score mismatches"),
        ("rss_per_player_kib", None, 30, "server RSS <= 30 KiB per player"),
    ],
    "many-games": [
        ("fanout_ms", "p99", 50, "question fan-out p99 <= 50 ms"),
        ("lost_answers", None, 0, "0 lost answers"),
        ("score_mismatches", None, 0, "0 score mismatches"),
        ("rss_per_player_kib", None, 30, "server RSS <= 30 KiB per player"),
    ],
    "join-storm": [
        ("join_s", None, 10, "all joined in <= 10 s"),
        ("join_failed", None, 0, "none refused"),
        ("rss_per_player_kib", None, 30, "server RSS <= 30 KiB per player"),
    ],
}


@dataclass
class Options:
    scenario: str
    players: int = 1000  # per game
    games: int = 1
    questions: int = 5
    time_limit: int = 20  # seconds, 5..120
    options: int = 4
    correct_ratio: float = 0.7
    answer_ratio: float = 1.0
    answer_spread: float = 2.0  # seconds after the question arrives
    between: float = 1.0  # seconds from a reveal to the host's `next`
    stagger: float | None = None  # seconds over which many-games starts its games
    servers: int = 1
    server_workers: int | None = None
    redis: str = "embedded"  # what the servers share: "embedded" (`livequiz redis`) or "cluster"
    codec: str = "json"
    urls: list[str] = field(default_factory=list)
    server_pids: list[int] = field(default_factory=list)
    server_env: dict[str, str] = field(default_factory=dict)
    out: Path | None = None
    max_seconds: float = 300.0
    client_procs: int | None = None
    connect_concurrency: int = 200
    join_rate: float = 0.0  # total joins/s; 0 = as fast as possible
    tolerance_ms: float = 50.0
    seed: int = 1
    progress: bool = True
    source_ips: int | None = None
    pyspy: bool = False  # profile the server processes per phase with py-spy (if installed)
    client_batch: bool = True  # client processes under SCHED_BATCH (swarm.yield_to_the_server)
    command: str = ""


def default_out(scenario: str) -> Path:
    return Path("artifacts/loadtest") / f"{scenario}-{time.strftime('%Y%m%d-%H%M%S')}"


def plan_procs(opts: Options, total: int) -> int:
    if opts.client_procs:
        return max(1, opts.client_procs)
    return max(1, min(8, math.ceil(total / 5000)))


def plan_source_ips(opts: Options, total: int) -> list[str]:
    """Several 127.0.0.x sources once one (source, server) pair would pass ~25k connections."""
    per_server = math.ceil((total + opts.games) / max(1, len(opts.urls) or opts.servers))
    n = opts.source_ips or math.ceil(per_server / 25000)
    return [] if n <= 1 else [f"127.0.0.{k + 1}" for k in range(n)]


class _Progress:
    """tqdm on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.bar: Any = None
        self.enabled = enabled

    def stage(self, desc: str, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is not None:
            self.bar.close()
        self.bar = tqdm(total=total, desc=desc, file=sys.stderr, mininterval=0.5, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Run:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.out = opts.out or default_out(opts.scenario)
        self.servers = ServerSet(
            count=opts.servers,
            workers=opts.server_workers,
            env=opts.server_env,
            data_root=self.out / "server-data",
            extra_pids=list(opts.server_pids),
            redis=opts.redis,
        )
        self.sampler: Sampler | None = None
        self.marks: dict[str, tuple[float, float, int, float, int]] = {}
        self.redis_marks: dict[str, dict[str, NodeStats]] = {}
        self.cpu_marks: dict[str, dict[int, float]] = {}
        self.hosts: list[Host] = []
        self.results: dict[int, Any] = {}
        self.joins_done: dict[int, tuple[int, int]] = {}
        self.aborted = False
        self.notes: list[str] = []
        self.go_ms = 0.0
        self.phase_ms: dict[str, float] = {}
        self.progress = _Progress(opts.progress)
        self.correct: list[int] = []
        self._pyspy: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.load_before: tuple[float, ...] = ()

    # -- the run ------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        opts = self.opts
        raise_nofile()
        self.out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        self.cpu_before = psutil.cpu_times()
        self.code = code_version()  # before the servers start: the tree may change under a run
        self.load_before = os.getloadavg()
        started_servers = not opts.urls
        try:
            if started_servers:
                opts.urls = self.servers.start()
            if self.servers.root_pids():
                self.sampler = Sampler(self.servers)
                self.sampler.start()
            loop = new_loop()
            try:
                loop.run_until_complete(self._main())
            finally:
                loop.close()
        finally:
            self.progress.close()
            self._pyspy_stop()
            if self.sampler is not None:
                self._mark("end")
                self.sampler.stop()
            if started_servers:
                self.servers.stop()
        return self._report(time.time() - t0)

    # -- profiling ----------------------------------------------------------------------------
    def _pyspy_start(self, phase: str) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not self.opts.pyspy or not Path(exe).exists():
            if self.opts.pyspy:
                self.notes.append("py-spy not found: no profile")
            return
        for pid in self.servers.root_pids():
            out = self.out / f"pyspy-{phase}-{pid}.txt"
            cmd = [exe, "record", "--pid", str(pid), "-f", "raw", "--threads", "-r", "100", "--nonblocking",
                   "-o", str(out)]  # fmt: skip
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._pyspy.append((proc, out))

    def _pyspy_stop(self) -> None:
        from loadtests.pyspy_summary import report as pyspy_report

        for proc, out in self._pyspy:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if out.exists():
                out.with_suffix(".md").write_text(pyspy_report(out.read_text(), thread="MainThread"))
        self._pyspy = []

    def _mark(self, name: str) -> None:
        if self.sampler is not None:
            self.marks[name] = self.sampler.snapshot()
            self.cpu_marks[name] = self.servers.cpu_by_process()
        if self.servers.redis_url and name != "end":  # the servers may be stopping at "end"
            try:
                self.redis_marks[name] = redis_snapshot(self.servers.redis_url)
            except Exception as exc:  # a measurement, not the run: note it and go on
                self.notes.append(f"Redis INFO at {name} failed: {exc!r}")

    async def _main(self) -> None:
        opts = self.opts
        hard_end = time.time() + opts.max_seconds
        try:
            async with asyncio.timeout(opts.max_seconds):
                await self._play(hard_end)
        except TimeoutError:
            self.aborted = True
            self.notes.append(f"stopped by --max-seconds {opts.max_seconds}")
            await self._abort()

    async def _play(self, hard_end: float) -> None:
        opts = self.opts
        body, self.correct = make_quiz(f"loadtest {opts.scenario}", opts.questions, opts.time_limit, opts.options)
        t = now_ms()
        games = await create_games(opts.urls[0], opts.games, body)
        self.phase_ms["create_games"] = now_ms() - t
        self.hosts = [
            Host(game=i, pin=pin, token=tok, server=split_url(opts.urls[i % len(opts.urls)]), codec=opts.codec)
            for i, (pin, tok) in enumerate(games)
        ]
        sem = asyncio.Semaphore(100)

        async def connect(h: Host) -> None:
            async with sem:
                await h.connect()

        await asyncio.gather(*(connect(h) for h in self.hosts))

        total = opts.players * opts.games
        self._check_nofile(total + opts.games)
        nproc = plan_procs(opts, total)
        ips = plan_source_ips(opts, total)
        if ips:
            self.notes.append(f"source addresses {ips[0]}..{ips[-1]}")
        pins = {i: pin for i, (pin, _) in enumerate(games)}
        servers = [split_url(u) for u in opts.urls]
        assign: list[list[tuple[int, int, int]]] = [[] for _ in range(nproc)]
        for idx in range(total):
            assign[idx % nproc].append((idx, idx // opts.players, idx % len(servers)))
        ctx = mp.get_context("spawn")
        self.queue: Any = ctx.Queue()
        self.go = ctx.Event()
        self.stop = ctx.Event()
        self.procs = []
        for w in range(nproc):
            cfg = SwarmConfig(
                worker_id=w,
                players=assign[w],
                pins={g: pins[g] for g in {a[1] for a in assign[w]}},
                servers=servers,
                correct=self.correct,
                n_options=opts.options,
                codec=opts.codec,
                answer_ratio=opts.answer_ratio,
                correct_ratio=opts.correct_ratio,
                answer_spread_s=opts.answer_spread,
                seed=opts.seed,
                connect_concurrency=max(1, opts.connect_concurrency // nproc),
                join_rate=opts.join_rate / nproc if opts.join_rate else 0.0,
                source_ips=ips,
                hard_deadline=hard_end + 20,
                batch_scheduling=opts.client_batch,
            )
            p = ctx.Process(target=worker_main, args=(cfg, self.queue, self.go, self.stop), daemon=True)
            p.start()
            self.procs.append(p)
        self._reader_loop = asyncio.get_running_loop()
        self._ready: set[int] = set()
        self._events = asyncio.Event()
        threading.Thread(target=self._read_queue, daemon=True).start()
        await self._until(lambda: len(self._ready) == nproc, 120.0, "client processes ready")

        self._mark("before_join")
        self.progress.stage("join", total)
        self._pyspy_start("join")
        self.go_ms = now_ms()
        self.go.set()
        await self._until(lambda: len(self.joins_done) == nproc, None, "joins")
        self.phase_ms["join"] = now_ms() - self.go_ms
        joined = sum(ok for ok, _ in self.joins_done.values())
        self._mark("joined")
        self._pyspy_stop()
        # lobby messages are throttled: give the hosts a moment to see every join
        await self._until(lambda: sum(h.lobby_count for h in self.hosts) >= joined, 5.0, None)

        t = now_ms()
        self._pyspy_start("game")
        if opts.scenario == "join-storm" or opts.questions == 0:
            self.progress.stage("end", len(self.hosts))
            await asyncio.gather(*(self._end(h) for h in self.hosts))
        else:
            self.progress.stage("questions", len(self.hosts) * opts.questions)
            stagger = opts.stagger if opts.stagger is not None else (float(opts.time_limit) if opts.games > 1 else 0.0)
            await asyncio.gather(
                *(self._game(h, stagger * i / max(1, len(self.hosts))) for i, h in enumerate(self.hosts))
            )
        self.phase_ms["game"] = now_ms() - t
        self._mark("game_over")
        self._pyspy_stop()
        await self._collect(grace=3.0)

    def _check_nofile(self, connections: int) -> None:
        """Note when a server process can't hold its share of the sockets (RLIMIT_NOFILE)."""
        per_server = math.ceil(connections / max(1, len(self.opts.urls)))
        for pid in self.servers.root_pids():
            with contextlib.suppress(psutil.Error, AttributeError):
                soft, _ = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
                if 0 < soft < per_server + 200:
                    self.notes.append(
                        f"server pid {pid} may open {soft} files but is to hold ~{per_server} sockets: "
                        "joins past the limit will fail"
                    )

    async def _game(self, h: Host, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        await h.run_game(self.opts.questions, self.opts.between, grace_s=5.0, on_reveal=self.progress.update)

    async def _end(self, h: Host) -> None:
        await h.end()
        self.progress.update()

    async def _collect(self, grace: float) -> None:
        """Players close on `finished`; after `grace` s the rest are told to stop."""
        nproc = len(self.procs)
        await self._until(lambda: len(self.results) == nproc, grace, None)
        self.stop.set()
        await self._until(lambda: len(self.results) == nproc, 60.0, "client results")
        for h in self.hosts:
            h.close()
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()

    async def _abort(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(15):
                await asyncio.gather(*(h.end() for h in self.hosts), return_exceptions=True)
        if getattr(self, "procs", None):
            self.go.set()
            with contextlib.suppress(Exception):
                await self._collect(grace=1.0)

    async def _until(self, pred: Any, within: float | None, what: str | None) -> None:
        end = None if within is None else time.monotonic() + within
        while not pred():
            if end is not None and time.monotonic() > end:
                if what:
                    self.notes.append(f"timed out waiting for {what}")
                return
            dead = self._dead_workers()
            if dead:
                self.notes.append(f"client process(es) {dead} died; stopped waiting for {what or 'them'}")
                return
            self._events.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await self._events.wait()

    def _dead_workers(self) -> list[int]:
        """Client processes that exited with an error before handing back their records."""
        return [
            w
            for w, p in enumerate(getattr(self, "procs", []))
            if not p.is_alive() and p.exitcode not in (0, None) and w not in self.results
        ]

    def _read_queue(self) -> None:
        while True:
            try:
                msg = self.queue.get(timeout=1.0)
            except queue_mod.Empty:
                if all(not p.is_alive() for p in self.procs):
                    return
                continue
            except (EOFError, OSError):
                return
            self._reader_loop.call_soon_threadsafe(self._on_worker, msg)

    def _on_worker(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            self._ready.add(msg[1])
        elif kind == "join_progress":
            self.progress.update(msg[2])
        elif kind == "joins_done":
            self.joins_done[msg[1]] = (msg[2], msg[3])
        elif kind == "result":
            self.results[msg[1]] = msg[2]
        self._events.set()

    # -- report -------------------------------------------------------------------------------
    def _report(self, duration_s: float) -> dict[str, Any]:
        opts = self.opts
        players: list[tuple[Any, ...]] = []
        client_cpu = 0.0
        swarm_errors: dict[str, int] = {}
        fallbacks = 0
        for res in self.results.values():
            if not res:
                continue
            players.extend(res["players"])
            client_cpu += res["cpu_s"]
            fallbacks += res["codec_fallbacks"]
            for k, v in res["errors"].items():
                swarm_errors[k] = swarm_errors.get(k, 0) + v
        hosts = [h.summary() for h in self.hosts]
        ev = evaluate(players, hosts, self.correct, opts.tolerance_ms, self.go_ms)
        total = opts.players * opts.games
        rep: dict[str, Any] = {
            "scenario": opts.scenario,
            "players": total,
            "players_per_game": opts.players,
            "games": opts.games,
            "questions": opts.questions if opts.scenario != "join-storm" else 0,
            "servers": len(opts.urls),
            "codec": opts.codec,
            "lost_answers": ev["lost_answers"],
            "score_mismatches": ev["score_mismatches"],
            "join_s": ev["join_s"],
            "fanout_ms": ev["fanout_ms"],
            "ack_ms": ev["ack_ms"],
            "reveal_ms": ev["reveal_ms"],
            "results_ms": ev["results_ms"],
            "server_cpu_s": None,
            "rss_per_player_kib": None,
        }
        rep.update({k: v for k, v in ev.items() if k not in rep and not k.startswith("_")})
        rep["score_tolerance_ms"] = opts.tolerance_ms
        rep["score_tolerance_points"] = tolerance_points(opts.tolerance_ms, opts.time_limit * 1000)
        rep["reveal_reference"] = (
            "deadline for a question that ran to its deadline; the last answer's send time when every "
            "joined player answered earlier; the host's `next` when it forced the close"
        )
        rep["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items() if k != "command"}
        rep["command"] = opts.command
        rep["client_procs"] = len(self.procs) if getattr(self, "procs", None) else 0
        rep["client_cpu_s"] = round(client_cpu, 2)
        rep["codec_fallbacks"] = fallbacks
        rep["client_errors"] = swarm_errors
        rep["host_errors"] = sorted({e for h in hosts for e in h["errors"]})
        rep["phase_s"] = {k: round(v / 1000.0, 3) for k, v in self.phase_ms.items()}
        rep["duration_s"] = round(duration_s, 2)
        rep["aborted"] = self.aborted
        rep["notes"] = list(dict.fromkeys(self.notes))
        rep.update(self._server_figures(ev["joined"]))
        rep["machine"] = self._machine(duration_s, client_cpu, rep)
        rep["code"] = self.code
        rep["targets"] = check_targets(rep)
        rep["_samples"] = ev["_samples"]
        rep["_timeline"] = self.sampler.samples if self.sampler else []
        rep["_go_s"] = self.go_ms / 1000.0
        return rep

    def _machine(self, duration_s: float, client_cpu: float, rep: dict[str, Any]) -> dict[str, Any]:
        """The box during the run: cores, load, and CPU used by processes not of this run
        (the box may be shared: other work there slows server and swarm alike)."""
        after = psutil.cpu_times()
        busy = sum(after) - after.idle - after.iowait - (sum(self.cpu_before) - self.cpu_before.idle
                                                           - self.cpu_before.iowait)  # fmt: skip
        ours = client_cpu + (rep.get("server_cpu_s") or 0) + (rep.get("redis_cpu_s") or 0)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        ours += ru.ru_utime + ru.ru_stime
        return {
            "cores": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in self.load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "busy_cpu_s": round(busy, 1),
            "this_run_cpu_s": round(ours, 1),
            "other_cpu_s": round(max(0.0, busy - ours), 1),
            "duration_s": round(duration_s, 1),
        }

    def _server_figures(self, joined: int) -> dict[str, Any]:
        m = self.marks
        if "before_join" not in m or "end" not in m:
            return {}
        b, j, e = m["before_join"], m.get("joined", m["end"]), m["end"]
        g = m.get("game_over", e)
        peak_rss = max((s[2] for s in self.sampler.samples), default=e[2]) if self.sampler else e[2]
        mib = 1024 * 1024
        out: dict[str, Any] = {
            "server_cpu_s": round(e[1] - b[1], 2),
            "server_cpu_s_by_phase": {"join": round(j[1] - b[1], 2), "game": round(g[1] - j[1], 2)},
            "redis_cpu_s": round(e[3] - b[3], 2),
            "server_rss_mib": {
                "before_join": round(b[2] / mib, 1),
                "joined": round(j[2] / mib, 1),
                "peak": round(peak_rss / mib, 1),
            },
            "redis_rss_mib": {"before_join": round(b[4] / mib, 1), "joined": round(j[4] / mib, 1)},
            "server_pids": self.servers.root_pids(),
        }
        cb, ce = self.cpu_marks.get("before_join", {}), self.cpu_marks.get("end", {})
        out["server_cpu_s_by_process"] = {str(pid): round(ce[pid] - cb[pid], 2) for pid in cb if pid in ce}
        rm = self.redis_marks
        if "before_join" in rm and "game_over" in rm:
            out["redis_info"] = {
                "shape": self.opts.redis,
                "join": redis_delta(rm["before_join"], rm["joined"]) if "joined" in rm else None,
                "game": redis_delta(rm["joined"], rm["game_over"]) if "joined" in rm else None,
                "total": redis_delta(rm["before_join"], rm["game_over"]),
            }
        if joined:
            out["rss_per_player_kib"] = round((j[2] - b[2]) / 1024 / joined, 2)
            out["rss_total_per_player_kib"] = round(j[2] / 1024 / joined, 2)
            out["redis_rss_per_player_kib"] = round((j[4] - b[4]) / 1024 / joined, 2)
        return out


def code_version() -> dict[str, Any]:
    """The commit the server runs from, and whether its code has uncommitted changes (the work
    tree may be shared with people editing the server while a run goes on)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "gameserver", "statemachine", "scoring", "transports")
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "server_code_dirty": bool(dirty)}


def check_targets(rep: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, sub, bound, desc in TARGETS.get(rep["scenario"], []):
        v = rep.get(key)
        if sub is not None:
            v = v.get(sub) if isinstance(v, dict) else None
        out.append({"target": desc, "value": v, "met": v is not None and v <= bound})
    return out
