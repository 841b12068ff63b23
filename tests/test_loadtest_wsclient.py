"""The load generator's WebSocket client on its bare socket: kernel receive stamps, writes the
kernel cannot take at once, and the close handshake, against a real `websockets` server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from loadtests import wsclient


class EchoServer:
    """A `websockets` server in a thread: `go` → it sends `hello` at once and notes when;
    any other message → it replies with the message's length; `bye` → it closes with 4000."""

    def __init__(self) -> None:
        self.sent_hello_ms = 0.0
        self._server = serve(self._handle, "127.0.0.1", 0, max_size=None)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handle(self, ws: ServerConnection) -> None:
        for message in ws:
            if message == "go":
                self.sent_hello_ms = time.time() * 1000
                ws.send("hello")
            elif message == "bye":
                ws.close(4000, "bye")
                return
            else:
                ws.send(str(len(message)))

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with EchoServer() as s:
        yield s


async def _open(port: int, inbox: list[tuple[Any, float, float]], closes: list[int]) -> wsclient.WSClient:
    def on_message(data: bytes, is_text: bool, arrived_ms: float) -> None:
        inbox.append((data, arrived_ms, time.time() * 1000))

    return await wsclient.connect("127.0.0.1", port, "/", on_message, closes.append, within=5)


async def _until(predicate: Any, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_arrival_is_the_kernels_stamp_not_the_moment_the_client_got_to_it(server: EchoServer) -> None:
    """The client's loop is blocked for 300 ms while `hello` arrives: the stamp still says when
    the bytes reached the socket (the load generator's own lag must not count as latency)."""

    async def run() -> tuple[float, float]:
        inbox: list[tuple[Any, float, float]] = []
        client = await _open(server.port, inbox, [])
        assert client.send(b"go", True)
        time.sleep(0.3)  # noqa: ASYNC251 - on purpose: the process is busy, the kernel takes the bytes
        await _until(lambda: inbox)
        data, arrived_ms, handled_ms = inbox[0]
        assert data == b"hello"
        client.close()
        return arrived_ms, handled_ms

    arrived_ms, handled_ms = asyncio.run(run())
    assert handled_ms - arrived_ms >= 250
    assert 0 <= arrived_ms - server.sent_hello_ms < 100


def test_a_message_larger_than_the_socket_buffer_goes_out_whole(server: EchoServer) -> None:
    """8 MiB cannot be written in one `send`: the rest waits for the socket to be writable,
    and what follows it keeps its place."""

    async def run() -> list[bytes]:
        inbox: list[tuple[Any, float, float]] = []
        client = await _open(server.port, inbox, [])
        assert client.send(b"x" * (8 << 20), True)
        assert client.send(b"after", True)
        await _until(lambda: len(inbox) >= 2, within_s=20)
        client.close()
        return [m[0] for m in inbox]

    assert asyncio.run(run()) == [str(8 << 20).encode(), b"5"]


def test_the_servers_close_reaches_on_close_once_with_its_code(server: EchoServer) -> None:
    async def run() -> tuple[list[int], bool, bool]:
        closes: list[int] = []
        client = await _open(server.port, [], closes)
        client.send(b"bye", True)
        await _until(lambda: closes)
        await asyncio.sleep(0.1)  # the socket's end (EOF) must not report a second close
        return closes, client.closed, client.send(b"late", True)

    closes, closed, sent_late = asyncio.run(run())
    assert closes == [4000]
    assert closed
    assert not sent_late


def test_a_refused_upgrade_raises_handshake_error() -> None:
    """A plain HTTP server that answers 404 is a failed join, not a hang."""

    async def run() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        http = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = http.sockets[0].getsockname()[1]
        with pytest.raises(wsclient.HandshakeError) as refused:
            await wsclient.connect("127.0.0.1", port, "/", lambda d, t, a: None, lambda c: None, within=5)
        assert refused.value.status == 404
        http.close()
        await http.wait_closed()

    asyncio.run(run())
