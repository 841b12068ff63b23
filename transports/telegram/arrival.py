"""When a getUpdates answer reached this server: the moment its first bytes were read.

An answer in a Telegram group is timed from when our server received the update, like a web
answer is from when its WebSocket frame was read. In polling mode updates come in a getUpdates
answer, and "received" must be when its bytes came off the socket, not when the HTTP client
had parsed the answer: between the two lie several event-loop turns (headers, body, the
awaiting task resumed), and on a busy loop each turn waits for everything queued before it —
measured at 30-120 ms when the process was short of CPU, which scored those answers as late.

So the getUpdates connection is built on a network backend whose streams note the time of the
first read that returns data after each request was written: one loop turn after the data
arrived, whatever happens in between. `ArrivalClock.take` hands that time to the caller once.
"""

# ruff: noqa: ASYNC109  (httpcore's network interfaces take `timeout` parameters; we pass them on)

from __future__ import annotations

import ssl
import time
import typing

import httpcore
import httpx


class ArrivalClock:
    """The first read of each answer on the connections of one `stamped_transport`."""

    def __init__(self) -> None:
        self._arrived: float | None = None

    def mark(self, when: float) -> None:
        self._arrived = when

    def take(self) -> float | None:
        """When the last answer's first bytes were read (once; None: nothing since)."""
        arrived, self._arrived = self._arrived, None
        return arrived


class _StampingStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, clock: ArrivalClock) -> None:
        self._inner, self._clock = inner, clock
        self._awaiting_answer = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        if data and self._awaiting_answer:
            self._awaiting_answer = False
            self._clock.mark(time.monotonic())  # before anything else runs on this task
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._awaiting_answer = True  # a request went out: its answer's first read is the arrival
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _StampingStream(await self._inner.start_tls(ssl_context, server_hostname, timeout), self._clock)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _StampingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, clock: ArrivalClock) -> None:
        self._inner = httpcore.AnyIOBackend()  # httpcore's own choice under asyncio
        self._clock = clock

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _StampingStream(stream, self._clock)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _StampingStream(await self._inner.connect_unix_socket(path, timeout, socket_options), self._clock)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def stamped_transport(clock: ArrivalClock, max_connections: int = 1) -> httpx.AsyncHTTPTransport:
    """An httpx transport (TLS verified as httpx does by default) whose answers' arrival
    times `clock` notes."""
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=max_connections))
    # httpx builds its pool without a way to pass a network backend: the same pool, with ours
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), max_connections=max_connections,
        network_backend=_StampingBackend(clock),
    )
    return transport
