"""White-box: the HTTP protocol's CPU per WebSocket handshake, ours against uvicorn's own.

`python -m benchmarks.bench_handshake --handshakes 20000` drives `UpgradeFriendlyHttpProtocol`
(the connection guard's count and deadlines, the upgrade's cycle break) and uvicorn's
`HttpToolsProtocol` through the same handshakes on uvloop, in one process: `connection_made`,
the request's bytes in one read, the upgrade handed to a WebSocket protocol that does nothing,
so what is timed is the HTTP side of a join only. The transport is in memory (no socket), the
two classes alternate in rounds, and the medians of the rounds are printed in µs a handshake:
the difference is what the guard costs a join.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any, ClassVar

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gameserver.httpprotocol import UpgradeFriendlyHttpProtocol

REQUEST = (
    b"GET /ws/play/123456 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class MemoryTransport(asyncio.Transport):
    """What uvicorn's HTTP protocol asks of a transport, with no socket behind it."""

    _EXTRA: ClassVar[dict[str, tuple[str, int]]] = {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}

    def __init__(self) -> None:
        super().__init__()
        self.closed = False
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._EXTRA.get(name, default)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class IdleWebSocket:
    """Takes the upgraded connection and does nothing with it."""

    def __init__(self, **_: Any) -> None:
        pass

    def connection_made(self, transport: Any) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never reached: every request upgrades
    raise AssertionError(scope)


def _round(cls: type[HttpToolsProtocol], config: Config, state: ServerState, n: int) -> float:
    """µs per handshake of `cls` over `n` handshakes."""
    loop = asyncio.get_running_loop()
    started = time.process_time_ns()
    for _ in range(n):
        protocol = cls(config=config, server_state=state, app_state={}, _loop=loop)
        transport = MemoryTransport()
        protocol.connection_made(transport)
        protocol.data_received(REQUEST)
        assert transport.protocol is not None  # upgraded
    return (time.process_time_ns() - started) / n / 1000


async def measure(handshakes: int, rounds: int) -> dict[str, float]:
    config = Config(app=_app, ws=IdleWebSocket, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    config.load()
    state = ServerState()
    times: dict[str, list[float]] = {"uvicorn": [], "livequiz": []}
    for _ in range(rounds):
        times["uvicorn"].append(_round(HttpToolsProtocol, config, state, handshakes))
        times["livequiz"].append(_round(UpgradeFriendlyHttpProtocol, config, state, handshakes))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=20_000, help="per round and class")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    result = uvloop.run(measure(args.handshakes, args.rounds))
    for name, us in result.items():
        print(f"{name:9s} {us:6.2f} µs a handshake (median of {args.rounds} rounds)")
    print(f"guard    {result['livequiz'] - result['uvicorn']:+6.2f} µs a handshake")


if __name__ == "__main__":
    main()
