"""A tiny in-memory server that speaks the floor of protocol v1, to test the harness itself.

Not the product: one process, no Redis, no bounds. It exists so that the harness's client loop
and its judging can be exercised without the engine, and so that faults can be injected to prove
that the harness notices them (`--fault lose:N` acks every N-th answer but drops it,
`--fault noack:N` records every N-th answer but never acks it, `--fault score:N` adds N points
to every correct answer).

    python -m loadtests.fakeserver --port 8765 [--fault lose:7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from loadtests.metrics import points


def now() -> int:
    return int(time.time() * 1000)


class Conn:
    def __init__(self, ws: WebSocket, binary: bool) -> None:
        self.ws = ws
        self.binary = binary

    async def send(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            if self.binary:
                await self.ws.send_bytes(msgpack.packb(msg))
            else:
                await self.ws.send_text(orjson.dumps(msg).decode())

    async def recv(self) -> dict[str, Any]:
        m = await self.ws.receive()
        if m["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(m.get("code", 1000))
        data = m.get("bytes")
        msg: dict[str, Any] = msgpack.unpackb(data) if data is not None else orjson.loads(m.get("text") or "{}")
        return msg


@dataclass
class Game:
    pin: str
    token: str
    questions: list[dict[str, Any]]
    phase: str = "WAITING"
    q: int = -1
    deadline: int = 0
    players: dict[str, dict[str, Any]] = field(default_factory=dict)
    conns: dict[str, Conn] = field(default_factory=dict)
    hosts: list[Conn] = field(default_factory=list)
    answers: dict[str, tuple[int, int]] = field(default_factory=dict)  # pid -> (option, received)
    tried: set[str] = field(default_factory=set)  # who answered (even when a fault dropped it)
    timer: asyncio.TimerHandle | None = None
    n_answers: int = 0


GAMES: dict[str, Game] = {}
FAULT: tuple[str, int] | None = None


async def broadcast(g: Game, msg: dict[str, Any], personal: Any = None) -> None:
    for pid, c in list(g.conns.items()):
        await c.send(personal(pid, msg) if personal else msg)
    for h in g.hosts:
        await h.send(msg)


async def start_question(g: Game) -> None:
    g.q += 1
    g.phase = "ACTIVE"
    g.answers = {}
    g.tried = set()
    qd = g.questions[g.q]
    limit = int(qd["time_limit"]) * 1000
    t = now()
    g.deadline = t + limit
    msg = {
        "type": "question",
        "question": g.q,
        "total": len(g.questions),
        "text": qd["text"],
        "options": qd["options"],
        "time_limit_ms": limit,
        "deadline": g.deadline,
        "server_time": t,
    }
    g.timer = asyncio.get_running_loop().call_later(limit / 1000, lambda: asyncio.ensure_future(close(g)))
    await broadcast(g, msg)


async def close(g: Game) -> None:
    if g.phase != "ACTIVE":
        return
    g.phase = "BETWEEN"
    if g.timer:
        g.timer.cancel()
    qd = g.questions[g.q]
    limit = int(qd["time_limit"]) * 1000
    dist = [0] * len(qd["options"])
    earned: dict[str, int] = {}
    for pid, (opt, recv) in g.answers.items():
        dist[opt] += 1
        pts = points(g.deadline - recv, limit) if opt == qd["correct"] else 0
        if FAULT and FAULT[0] == "score" and pts:
            pts += FAULT[1]
        earned[pid] = pts
        g.players[pid]["score"] += pts
        g.players[pid]["answers"] += 1
    ranked = sorted(g.players.values(), key=lambda p: -p["score"])
    for i, p in enumerate(ranked):
        p["rank"] = i + 1
    base = {"type": "reveal", "question": g.q, "correct": qd["correct"], "distribution": dist}

    def personal(pid: str, msg: dict[str, Any]) -> dict[str, Any]:
        p = g.players[pid]
        a = g.answers.get(pid)
        you = {
            "answered": a is not None,
            "correct": bool(a and a[0] == qd["correct"]),
            "points": earned.get(pid, 0),
            "score": p["score"],
            "rank": p["rank"],
        }
        return {**msg, "you": you}

    await broadcast(g, base, personal)
    top = [{"rank": p["rank"], "name": p["name"], "score": p["score"]} for p in ranked[:10]]
    await broadcast(g, {"type": "leaderboard", "question": g.q, "top": top})


async def finish(g: Game) -> None:
    if g.timer:
        g.timer.cancel()
    g.phase = "FINISHED"
    ranked = sorted(g.players.values(), key=lambda p: -p["score"])
    results = [
        {"rank": i + 1, "name": p["name"], "score": p["score"], "answers": p["answers"], "correct": 0}
        for i, p in enumerate(ranked)
    ]
    for pid, c in list(g.conns.items()):
        p = g.players[pid]
        await c.send(
            {
                "type": "finished",
                "podium": results[:3],
                "you": {"rank": p.get("rank", 0), "score": p["score"], "answers": p["answers"]},
            }
        )
    for h in g.hosts:
        await h.send({"type": "finished", "podium": results[:3], "results": results})


async def create(request: Request) -> JSONResponse:
    body = await request.json()
    pin = f"{random.randrange(10**6):06d}"
    GAMES[pin] = Game(pin, secrets.token_hex(8), body["questions"])
    return JSONResponse(
        {"pin": pin, "host_token": GAMES[pin].token, "question_count": len(body["questions"]), "skipped": 0},
        status_code=201,
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def accept(ws: WebSocket) -> Conn:
    offered = ws.headers.get("sec-websocket-protocol", "")
    sub = "quiz.v1.msgpack" if "quiz.v1.msgpack" in offered else ("quiz.v1.json" if offered else None)
    await ws.accept(subprotocol=sub)
    return Conn(ws, sub == "quiz.v1.msgpack")


async def host_ws(ws: WebSocket) -> None:
    g = GAMES.get(ws.path_params["pin"])
    c = await accept(ws)
    if g is None:
        await ws.close(4404)
        return
    try:
        if (await c.recv()).get("token") != g.token:
            await ws.close(4401)
            return
        g.hosts.append(c)
        await c.send(
            {
                "type": "hosting",
                "pin": g.pin,
                "title": "",
                "phase": g.phase,
                "players": [],
                "question_count": len(g.questions),
            }
        )
        while True:
            m = await c.recv()
            t = m.get("type")
            if t == "start" and g.phase == "WAITING":
                await start_question(g)
            elif t == "next" and g.phase == "ACTIVE":
                await close(g)
            elif t == "next" and g.phase == "BETWEEN":
                await (start_question(g) if g.q + 1 < len(g.questions) else finish(g))
            elif t == "end":
                await finish(g)
    except WebSocketDisconnect:
        pass


async def play_ws(ws: WebSocket) -> None:
    g = GAMES.get(ws.path_params["pin"])
    c = await accept(ws)
    if g is None:
        await ws.close(4404)
        return
    pid = ""
    try:
        m = await c.recv()
        pid = secrets.token_hex(6)
        g.players[pid] = {"name": m.get("name"), "score": 0, "answers": 0}
        g.conns[pid] = c
        await c.send(
            {
                "type": "joined",
                "player_id": pid,
                "token": pid,
                "name": m.get("name"),
                "pin": g.pin,
                "phase": g.phase,
                "score": 0,
            }
        )
        await c.send({"type": "lobby", "count": len(g.players)})
        for h in g.hosts:
            await h.send({"type": "lobby", "count": len(g.players), "joined": [], "left": []})
        while True:
            m = await c.recv()
            if m.get("type") != "answer":
                continue
            q, opt = m.get("question"), m.get("option")
            if g.phase != "ACTIVE":
                await c.send({"type": "error", "code": "not_active", "message": "", "question": q})
            elif q != g.q:
                await c.send({"type": "error", "code": "wrong_question", "message": "", "question": q})
            elif pid in g.tried:
                await c.send({"type": "error", "code": "already_answered", "message": "", "question": q})
            else:
                g.n_answers += 1
                g.tried.add(pid)
                k = g.n_answers
                fault = FAULT[0] if FAULT and k % FAULT[1] == 0 else None
                if fault != "lose":
                    g.answers[pid] = (int(opt or 0), now())
                if fault != "noack":
                    await c.send({"type": "answer_ack", "question": q, "accepted": True})
                if len(g.tried) >= len(g.conns):
                    await close(g)
    except WebSocketDisconnect:
        g.conns.pop(pid, None)


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/games", create, methods=["POST"]),
            Route("/healthz", healthz),
            WebSocketRoute("/ws/host/{pin}", host_ws),
            WebSocketRoute("/ws/play/{pin}", play_ws),
        ]
    )


def main() -> None:
    global FAULT
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--fault", help="lose:N | noack:N | score:N")
    ns = ap.parse_args()
    if ns.fault:
        kind, _, n = ns.fault.partition(":")
        FAULT = (kind, int(n or 1))
    uvicorn.run(app(), host="127.0.0.1", port=ns.port, log_level="warning", ws_ping_interval=None)


if __name__ == "__main__":
    main()
