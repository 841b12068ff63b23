"""Benchmark: the two floors under a big broadcast, on this box.

1. **The write floor**: one `os.write` of a 200-byte frame to each of N connected loopback
   sockets, whose other ends a separate process drains (as the players' client processes
   do). No server can fan out faster from one process than this.
2. **The hub's Python per socket**: `Hub._deliver` of a question, and of a reveal with a
   personal `you` for every player plus its leaderboard, to N sockets whose transport
   discards the bytes: everything the server does per socket except the system call. As in
   the server during a big room's question: on uvloop, with the collector held (`GcHold`).

Medians of `--repeat` runs.

    python -m benchmarks.bench_fanout --sockets 10000
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import select
import socket
import statistics
import time
from typing import Any

import uvloop

from gameserver.connection import Connection
from gameserver.envelopes import Message
from gameserver.hub import Hub, Room
from gameserver.wsprotocol import RawWriter, frame_bytes
from transports.codecs import CODECS, JSON_SUBPROTOCOL

FRAME = frame_bytes("x" * 198)


def _drain(port: int, sockets: int, ready: Any) -> None:
    """The far ends: accept every connection, then read until each is closed."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    ready.set()
    poller = select.epoll()
    peers: dict[int, socket.socket] = {}
    while len(peers) < sockets:
        peer, _ = listener.accept()
        peer.setblocking(False)
        peers[peer.fileno()] = peer
        poller.register(peer.fileno(), select.EPOLLIN)
    while peers:
        for fd, _ in poller.poll(1.0):
            try:
                if not peers[fd].recv(65536):
                    poller.unregister(fd)
                    peers.pop(fd).close()
            except BlockingIOError:
                pass


def write_floor_ms(sockets: int, repeat: int) -> list[float]:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    drainer = context.Process(target=_drain, args=(port, sockets, ready), daemon=True)
    drainer.start()
    ready.wait(30)
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(sockets)]
    for conn in conns:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
    fds = [conn.fileno() for conn in conns]
    time.sleep(0.5)
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for fd in fds:
            os.write(fd, FRAME)
        runs.append((time.perf_counter() - started) * 1000)
        time.sleep(0.3)  # let the far ends drain
    for conn in conns:
        conn.close()
    drainer.join(30)
    return runs


class _DiscardingTransport:
    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class _OpenProtocol:
    """What `RawWriter` reads of uvicorn's protocol: an open socket with no extension."""

    def __init__(self) -> None:
        self.transport = _DiscardingTransport()
        self.disconnected = False
        self.close_sent = False
        self.handshake_complete = True
        self.conn = type("WsConn", (), {"extensions": []})()


def hub_python_us(sockets: int, repeat: int) -> dict[str, float]:
    room = Room("123456")
    for i in range(sockets):
        conn = Connection(
            None,  # type: ignore[arg-type]
            CODECS[JSON_SUBPROTOCOL],
            room.pin,
            "player",
            max_queue=10,
            raw=RawWriter(_OpenProtocol()),  # type: ignore[arg-type]
        )
        conn.player_id = f"player{i:06d}"
        room.players[conn.player_id] = {conn}
    hub = Hub(None, None, lobby_interval_ms=100, now_ms=lambda: 0)  # type: ignore[arg-type]
    question = {
        "type": "question", "question": 1, "text": "What is the capital of France?",
        "options": ["Lyon", "Paris", "Nice", "Lille"], "time_limit": 20, "deadline": 1, "server_time": 1,
    }
    reveal = {"type": "reveal", "question": 0, "correct": 1, "distribution": [1, 2, 3, 4]}
    you = {
        player: {"answered": True, "correct": True, "points": 500 + i, "score": 1000 + i, "rank": i + 1}
        for i, player in enumerate(room.players)
    }
    board = {"type": "leaderboard", "question": 0, "top": [{"name": f"n{i}", "score": i} for i in range(10)]}
    cases: dict[str, list[Message]] = {
        "question": [Message(question)],
        "reveal_and_leaderboard": [Message(reveal, you=you), Message(board)],
    }

    async def run() -> dict[str, float]:
        medians = {}
        for name, items in cases.items():
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                await hub._deliver(room, items)
                runs.append(time.perf_counter() - started)
            medians[name] = statistics.median(runs) * 1e6 / sockets
        return medians

    gc.collect()
    gc.disable()  # as GcHold does in the server from a big room's question to its reveal
    try:
        return uvloop.run(run())
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    floor = write_floor_ms(args.sockets, args.repeat)
    median = statistics.median(floor)
    print(
        f"write floor, {args.sockets} sockets: median {median:.1f} ms ({median * 1000 / args.sockets:.2f} us a "
        f"socket; min {min(floor):.1f}, max {max(floor):.1f})"
    )
    for name, per_socket in hub_python_us(args.sockets, args.repeat).items():
        print(f"hub python, {name}: median {per_socket:.2f} us a socket ({per_socket * args.sockets / 1000:.1f} ms)")


if __name__ == "__main__":
    main()
