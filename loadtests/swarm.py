"""The swarm: simulated players, run by client processes, each with its own uvloop event loop.

A player is callbacks only (no task per player once joined): a `question` schedules one timer
that sends the answer; everything the player sees is written into a flat record per question,
which the process hands back to the orchestrator at the end. The orchestrator merges the records
of all processes and judges them (`evaluate.py`); players judge nothing themselves.

Record per question (a list, index constants `R_*`): question arrival, `server_time`,
`deadline`, `time_limit_ms`, send time, option, whether the option is the correct one, ack
arrival, refusal code, reveal arrival, `you.answered`, `you.correct`, `you.points`, `you.score`,
then the question, ack and reveal arrivals again as this process handled them (`*_APP`).
All times are wall-clock milliseconds (`time.time()`), the same clock the server stamps with.
An arrival is the kernel's receive stamp of the bytes (`WSClient.arrived_ms`): when the server's
message reached the player's socket, however long this process then took to get to it; the
`*_APP` times add that lag of the load generator and are reported beside.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from gameserver.openfiles import raise_open_files_limit
from loadtests import wsclient
from loadtests.codec import JSON, get_codec

(
    R_Q,
    R_QRECV,
    R_SERVER_TIME,
    R_DEADLINE,
    R_LIMIT,
    R_SENT,
    R_OPTION,
    R_CHOSE_CORRECT,
    R_ACK,
    R_REFUSED,
    R_REVEAL,
    R_YOU_ANSWERED,
    R_YOU_CORRECT,
    R_YOU_POINTS,
    R_YOU_SCORE,
    R_QRECV_APP,
    R_ACK_APP,
    R_REVEAL_APP,
) = range(18)
RECORD_LEN = 18

ANSWER_ERRORS = frozenset({"not_active", "wrong_question", "too_late", "already_answered", "invalid_option"})


def now_ms() -> float:
    return time.time() * 1000.0


@dataclass
class SwarmConfig:
    """What one client process simulates. Picklable: sent to a spawned process."""

    worker_id: int
    players: list[tuple[int, int, int]]  # (player index, game index, server index)
    pins: dict[int, str]  # game index -> PIN
    servers: list[tuple[str, int]]
    correct: list[int]  # correct option per question (the harness wrote the quiz)
    n_options: int
    codec: str = "json"
    answer_ratio: float = 1.0
    correct_ratio: float = 0.7
    answer_spread_s: float = 2.0
    seed: int = 1
    connect_concurrency: int = 200
    join_rate: float = 0.0  # joins per second for this process; 0 = as fast as possible
    source_ips: list[str] = field(default_factory=list)
    hard_deadline: float = 0.0  # wall-clock seconds; the process stops by itself then
    join_timeout_s: float = 60.0
    batch_scheduling: bool = True  # see `yield_to_the_server`


class Player:
    """One simulated player. Reacts to the server; answers each question once, on a timer."""

    __slots__ = (
        "cfg",
        "close_code",
        "closed_ms",
        "codec",
        "encode",
        "final_score",
        "finished_ms",
        "game",
        "idx",
        "join_error",
        "join_start",
        "joined",
        "joined_ms",
        "loop",
        "pending",
        "records",
        "rng",
        "send_text",
        "server",
        "swarm",
        "ws",
    )

    def __init__(self, swarm: Swarm, idx: int, game: int, server: int) -> None:
        self.swarm = swarm
        self.cfg = swarm.cfg
        self.loop = swarm.loop
        self.idx = idx
        self.game = game
        self.server = server
        self.rng = random.Random((self.cfg.seed << 32) ^ idx)
        self.ws: wsclient.WSClient | None = None
        self.codec = get_codec(self.cfg.codec)
        self.encode = self.codec.encode
        self.send_text = self.codec.text
        self.join_start = 0.0
        self.joined_ms = 0.0
        self.joined: asyncio.Future[str | None] = self.loop.create_future()
        self.join_error: str | None = None
        self.records: dict[int, list[Any]] = {}
        self.pending: int | None = None  # question whose answer awaits its ack
        self.finished_ms = 0.0
        self.final_score: int | None = None
        self.close_code: int | None = None
        self.closed_ms = 0.0

    # -- life cycle ---------------------------------------------------------------------------
    async def join(self, source_ip: str | None) -> None:
        host, port = self.cfg.servers[self.server]
        pin = self.cfg.pins[self.game]
        self.join_start = now_ms()
        try:
            self.ws = await wsclient.connect(
                host,
                port,
                f"/ws/play/{pin}",
                self.on_message,
                self.on_close,
                subprotocol=self.codec.subprotocol,
                source_ip=source_ip,
                within=self.cfg.join_timeout_s,
            )
        except Exception as exc:  # refused, timed out, reset: a failed join, not a crash
            self.join_error = f"connect:{type(exc).__name__}"
            if isinstance(exc, wsclient.HandshakeError):
                self.join_error = f"http:{exc.status}"
            self.swarm.player_done(self)
            return
        if self.ws.subprotocol != self.codec.subprotocol:
            # The server did not take our codec; it speaks JSON then (PROTOCOL.md).
            self.swarm.codec_fallbacks += 1
            self.encode, self.send_text = JSON.encode, JSON.text
        self.send({"type": "join", "name": f"p{self.idx}"})
        try:
            async with asyncio.timeout(self.cfg.join_timeout_s):
                err = await self.joined
        except TimeoutError:
            err = "join_timeout"
        if err is not None:
            self.join_error = err
            self.ws.close()

    def send(self, msg: dict[str, Any]) -> bool:
        ws = self.ws
        return ws is not None and ws.send(self.encode(msg), self.send_text)

    def on_close(self, code: int) -> None:
        self.close_code = code
        self.closed_ms = now_ms()
        if not self.joined.done():
            self.joined.set_result(f"closed:{code}")
        self.swarm.player_done(self)

    # -- messages -----------------------------------------------------------------------------
    def on_message(self, data: bytes, is_text: bool, t: float) -> None:
        """`t`: the kernel's arrival stamp; `t_app`: now, as this process gets to the message."""
        t_app = now_ms()
        try:
            msg = (JSON.decode if is_text else self.swarm.mp_decode)(data)
            kind = msg["type"]
        except Exception:
            self.swarm.bad_frames += 1
            return
        if kind == "question":
            self._question(msg, t, t_app)
        elif kind == "answer_ack":
            rec = self.records.get(msg.get("question", self.pending))
            if rec is not None and rec[R_ACK] is None:
                if msg.get("accepted", True):
                    rec[R_ACK] = t
                    rec[R_ACK_APP] = t_app
                else:
                    rec[R_REFUSED] = "not_accepted"
            self.pending = None
        elif kind == "reveal":
            self._reveal(msg, t, t_app)
        elif kind == "lobby" or kind == "leaderboard" or kind == "pong":
            pass
        elif kind == "joined":
            self.joined_ms = t
            if not self.joined.done():
                self.joined.set_result(None)
        elif kind == "error":
            self._error(msg)
        elif kind == "finished":
            self.finished_ms = t
            you = msg.get("you") or {}
            self.final_score = you.get("score")
            if self.ws is not None:
                self.ws.close()
        else:
            self.swarm.other_types[kind] = self.swarm.other_types.get(kind, 0) + 1

    def _question(self, msg: dict[str, Any], t: float, t_app: float) -> None:
        q = msg["question"]
        if q in self.records:
            return
        rec: list[Any] = [None] * RECORD_LEN
        rec[R_Q] = q
        rec[R_QRECV] = t
        rec[R_QRECV_APP] = t_app
        rec[R_SERVER_TIME] = msg.get("server_time")
        rec[R_DEADLINE] = msg.get("deadline")
        rec[R_LIMIT] = msg.get("time_limit_ms")
        self.records[q] = rec
        cfg = self.cfg
        rng = self.rng
        if rng.random() >= cfg.answer_ratio:
            return
        correct = cfg.correct[q] if q < len(cfg.correct) else 0
        if rng.random() < cfg.correct_ratio:
            option = correct
        else:
            option = (correct + 1 + rng.randrange(cfg.n_options - 1)) % cfg.n_options
        rec[R_OPTION] = option
        rec[R_CHOSE_CORRECT] = option == correct
        self.loop.call_later(rng.random() * cfg.answer_spread_s, self._answer, rec)

    def _answer(self, rec: list[Any]) -> None:
        q = rec[R_Q]
        self.pending = q
        rec[R_SENT] = now_ms()
        if not self.send({"type": "answer", "question": q, "option": rec[R_OPTION]}):
            rec[R_REFUSED] = "socket_closed"
        self.swarm.answers_sent += 1

    def _reveal(self, msg: dict[str, Any], t: float, t_app: float) -> None:
        q = int(msg.get("question", -1))
        rec = self.records.get(q)
        if rec is None:  # a reveal for a question we never saw: keep it, judge later
            rec = [None] * RECORD_LEN
            rec[R_Q] = q
            self.records[q] = rec
        rec[R_REVEAL] = t
        rec[R_REVEAL_APP] = t_app
        you = msg.get("you") or {}
        rec[R_YOU_ANSWERED] = you.get("answered")
        rec[R_YOU_CORRECT] = you.get("correct")
        rec[R_YOU_POINTS] = you.get("points")
        rec[R_YOU_SCORE] = you.get("score")

    def _error(self, msg: dict[str, Any]) -> None:
        code = msg.get("code", "?")
        if not self.joined.done():
            self.joined.set_result(code)
            return
        if code in ANSWER_ERRORS:
            q = msg.get("question", self.pending)
            rec = self.records.get(q) if q is not None else None
            if rec is not None and rec[R_ACK] is None and rec[R_REFUSED] is None:
                rec[R_REFUSED] = code
            self.pending = None
        self.swarm.errors[code] = self.swarm.errors.get(code, 0) + 1

    def result(self) -> tuple[Any, ...]:
        recs = [tuple(r) for _, r in sorted(self.records.items(), key=lambda kv: (kv[0] is None, kv[0]))]
        return (
            self.idx,
            self.game,
            self.server,
            self.join_start,
            self.joined_ms,
            self.join_error,
            self.close_code,
            self.closed_ms,
            self.finished_ms,
            self.final_score,
            recs,
        )


class Swarm:
    """All players of one client process."""

    def __init__(self, cfg: SwarmConfig, report: Any = None) -> None:
        self.cfg = cfg
        self.loop = asyncio.get_running_loop()
        self.report = report or (lambda *a: None)
        self.mp_decode = get_codec("msgpack").decode
        self.players = [Player(self, i, g, s) for i, g, s in cfg.players]
        self.done_count = 0
        self.all_done = asyncio.Event()
        self.answers_sent = 0
        self.bad_frames = 0
        self.codec_fallbacks = 0
        self.errors: dict[str, int] = {}
        self.other_types: dict[str, int] = {}
        self._joined_reported = 0
        self._joins_finished = 0
        self._joins_ok = 0

    def player_done(self, p: Player) -> None:
        self.done_count += 1
        if self.done_count >= len(self.players):
            self.all_done.set()

    async def join_all(self) -> None:
        cfg = self.cfg
        sem = asyncio.Semaphore(max(1, cfg.connect_concurrency))
        start = time.monotonic()
        ips = cfg.source_ips

        async def one(k: int, p: Player) -> None:
            if cfg.join_rate > 0:
                delay = start + k / cfg.join_rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with sem:
                await p.join(ips[p.idx % len(ips)] if ips else None)
            self._joins_finished += 1
            if p.join_error is None:
                self._joins_ok += 1

        progress = asyncio.ensure_future(self._progress())
        await asyncio.gather(*(one(k, p) for k, p in enumerate(self.players)))
        progress.cancel()
        self._flush_progress()

    def _flush_progress(self) -> None:
        if self._joins_finished != self._joined_reported:
            self.report("join_progress", self.cfg.worker_id, self._joins_finished - self._joined_reported)
            self._joined_reported = self._joins_finished

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self._flush_progress()

    async def play(self, should_stop: Any) -> None:
        """Wait until every player is done (finished or closed), `should_stop()` or the deadline."""
        while not self.all_done.is_set():
            if should_stop() or (self.cfg.hard_deadline and time.time() > self.cfg.hard_deadline):
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await self.all_done.wait()
        for p in self.players:
            if p.ws is not None and not p.ws.closed:
                p.ws.close()

    def result(self) -> dict[str, Any]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "worker_id": self.cfg.worker_id,
            "players": [p.result() for p in self.players],
            "answers_sent": self.answers_sent,
            "bad_frames": self.bad_frames,
            "codec_fallbacks": self.codec_fallbacks,
            "errors": self.errors,
            "other_types": self.other_types,
            "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_kib": ru.ru_maxrss,
        }


def raise_nofile() -> None:
    """Lift the open-files limit as far as allowed: a privileged process may raise the hard
    limit to 262,144 first; then the soft limit goes up to the hard one, as `livequiz serve`
    does for itself."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (262144, max(262144, hard)))
    raise_open_files_limit()


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()


def yield_to_the_server() -> bool:
    """Run this client process under SCHED_BATCH: woken by a message, it no longer preempts
    the process that is running (Linux's wake-up preemption is off for batch tasks); it waits
    for its turn. Players' devices never take CPU from a real server; on a shared 2-core box,
    a 10k fan-out that wakes the client processes cost the server stalls of 100-240 ms with
    ~1,000 involuntary context switches each, in most runs (`getrusage` in a loop-lag probe).
    The clients still get their share of the CPU, and every latency is taken from kernel
    receive stamps and send times, so what is measured does not change. True when applied."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or not allowed: normal scheduling
        return False
    return True


def worker_main(cfg: SwarmConfig, queue: Any, go: Any, stop: Any) -> None:
    """Entry of a client process: get ready, wait for `go`, join, play, hand back records."""
    raise_nofile()
    if cfg.batch_scheduling:
        yield_to_the_server()
    queue.put(("ready", cfg.worker_id))
    if not go.wait(timeout=max(1.0, cfg.hard_deadline - time.time()) if cfg.hard_deadline else None):
        queue.put(("result", cfg.worker_id, None))
        return

    def report(*msg: Any) -> None:
        queue.put(msg)

    async def run() -> dict[str, Any]:
        swarm = Swarm(cfg, report)
        await swarm.join_all()
        ok = sum(1 for p in swarm.players if p.join_error is None)
        report("joins_done", cfg.worker_id, ok, len(swarm.players) - ok)
        await swarm.play(stop.is_set)
        return swarm.result()

    loop = new_loop()
    try:
        result = loop.run_until_complete(run())
    finally:
        loop.close()
    queue.put(("result", cfg.worker_id, result))
