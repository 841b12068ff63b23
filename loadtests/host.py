"""The simulated host: creates games over HTTP, holds the host socket, starts and advances.

The host is the reference observer of a game: the `reveal` it receives carries the
distribution that every player's answers are checked against, and its arrival time marks when
the server announced the close (used for the reveal spread).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadtests import wsclient
from loadtests.codec import JSON, get_codec
from loadtests.swarm import now_ms

ANSWER_SEED_OPTIONS = ["Alpha", "Bravo", "Charlie", "Delta"]


def make_quiz(title: str, questions: int, time_limit_s: int, n_options: int = 4) -> tuple[dict[str, Any], list[int]]:
    """A quiz of `questions` select_one questions; returns (body, correct option per question)."""
    correct = [(7 * i + 1) % n_options for i in range(questions)]
    body = {
        "title": title,
        "questions": [
            {
                "text": f"Question {i + 1}: which one is right?",
                "options": [f"{ANSWER_SEED_OPTIONS[k % 4]} {k}" for k in range(n_options)],
                "correct": correct[i],
                "time_limit": time_limit_s,
                "type": "select_one",
            }
            for i in range(questions)
        ],
        "settings": {},
    }
    return body, correct


async def create_games(url: str, count: int, body: dict[str, Any], concurrency: int = 32) -> list[tuple[str, str]]:
    """POST /api/games `count` times; [(pin, host_token)]."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:

        async def one(i: int) -> tuple[str, str]:
            async with sem:
                r = await client.post("/api/games", json={**body, "title": f"{body['title']} #{i}"})
                if r.status_code != 201:
                    raise RuntimeError(f"POST /api/games: HTTP {r.status_code}: {r.text[:300]}")
                data = r.json()
                return str(data["pin"]), str(data["host_token"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


@dataclass
class Host:
    """One game's host connection and what it observed."""

    game: int
    pin: str
    token: str
    server: tuple[str, int]
    codec: str = "json"
    ws: wsclient.WSClient | None = None
    lobby_count: int = 0
    questions: dict[int, dict[str, Any]] = field(default_factory=dict)  # q -> msg + "recv"
    reveals: dict[int, dict[str, Any]] = field(default_factory=dict)  # q -> msg + "recv"
    forced_next: dict[int, float] = field(default_factory=dict)  # q -> when we closed it
    start_sent: float = 0.0
    finish_sent: float | None = None  # when we sent what ends the game (`next` after the last question, `end`)
    finished: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    closed_code: int | None = None

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()
        self._codec = get_codec(self.codec)

    async def connect(self) -> None:
        host, port = self.server
        self.ws = await wsclient.connect(
            host,
            port,
            f"/ws/host/{self.pin}",
            self._on_message,
            self._on_close,
            subprotocol=self._codec.subprotocol,
        )
        if self.ws.subprotocol != self._codec.subprotocol:
            self._codec = JSON
        self.send({"type": "host", "token": self.token})

    def send(self, msg: dict[str, Any]) -> None:
        if self.ws is not None:
            self.ws.send(self._codec.encode(msg), self._codec.text)

    def _on_close(self, code: int) -> None:
        self.closed_code = code
        self._changed.set()

    def _on_message(self, data: bytes, is_text: bool, t: float) -> None:
        """`t`: the kernel's arrival stamp, as for the players."""
        msg = JSON.decode(data) if is_text else get_codec("msgpack").decode(data)
        kind = msg.get("type")
        if kind == "lobby":
            self.lobby_count = int(msg.get("count", self.lobby_count))
        elif kind == "hosting":
            players = msg.get("players")
            if isinstance(players, list):
                self.lobby_count = max(self.lobby_count, len(players))
        elif kind == "question":
            self.questions.setdefault(int(msg["question"]), {**msg, "recv": t})
        elif kind == "reveal":
            self.reveals.setdefault(int(msg["question"]), {**msg, "recv": t})
        elif kind == "finished":
            self.finished = {**msg, "recv": t}
        elif kind == "error":
            self.errors.append(str(msg.get("code")))
        self._changed.set()

    async def wait_for(self, pred: Any, within: float) -> bool:
        """Wait until `pred()` holds (re-checked after each message) or the timeout."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while not pred():
            if self.closed_code is not None:
                return bool(pred())
            left = end - loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()
        return True

    async def run_game(self, questions: int, between_s: float, grace_s: float, on_reveal: Any) -> None:
        """start, then for each question: wait for its reveal (force `next` past the deadline
        + grace), pause `between_s`, `next`; finally wait for `finished`."""
        self.start_sent = now_ms()
        self.send({"type": "start"})
        for q in range(questions):
            if not await self.wait_for(lambda q=q: q in self.questions, 30.0):
                self.errors.append(f"no_question_{q}")
                break
            qmsg = self.questions[q]
            left_s = (qmsg.get("deadline", now_ms()) - now_ms()) / 1000.0
            if not await self.wait_for(lambda q=q: q in self.reveals, max(0.0, left_s) + grace_s):
                self.forced_next[q] = now_ms()
                self.errors.append(f"forced_close_{q}")
                self.send({"type": "next"})
                if not await self.wait_for(lambda q=q: q in self.reveals, 30.0):
                    self.errors.append(f"no_reveal_{q}")
                    break
            on_reveal()
            await asyncio.sleep(between_s)
            if q == questions - 1:
                self.finish_sent = now_ms()
            self.send({"type": "next"})
        if not await self.wait_for(lambda: self.finished is not None, 30.0):
            self.errors.append("no_finished")
            self.finish_sent = now_ms()
            self.send({"type": "end"})
            await self.wait_for(lambda: self.finished is not None, 10.0)

    async def end(self) -> None:
        """Finish the game now (join storm, aborted run)."""
        if self.finished is None:
            self.finish_sent = now_ms()
            self.send({"type": "end"})
            await self.wait_for(lambda: self.finished is not None, 15.0)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()

    def summary(self) -> dict[str, Any]:
        return {
            "game": self.game,
            "pin": self.pin,
            "lobby_count": self.lobby_count,
            "questions": {
                q: {k: m.get(k) for k in ("recv", "server_time", "deadline", "time_limit_ms")}
                for q, m in self.questions.items()
            },
            "reveals": {
                q: {"recv": m["recv"], "distribution": m.get("distribution"), "correct": m.get("correct")}
                for q, m in self.reveals.items()
            },
            "forced_next": dict(self.forced_next),
            "finish_sent": self.finish_sent,
            "finished": None if self.finished is None else self.finished["recv"],
            "results": None if self.finished is None else self.finished.get("results"),
            "errors": list(self.errors),
        }


def split_url(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)
