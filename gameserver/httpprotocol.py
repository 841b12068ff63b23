"""uvicorn's httptools HTTP protocol, minus one reference cycle per WebSocket, and with a
prompt shutdown.

On an upgrade, uvicorn hands the socket to the WebSocket protocol and drops the HTTP protocol
object, but that object and its `httptools` parser point at each other (the parser holds six
bound callbacks), so it is freed only by the cyclic garbage collector. A 10,000-player game
leaves 10,000 of them; measured here, each young collection that finds a few hundred costs
50-80 ms of stopped event loop, once or more per question. Dropping the parser after the
upgrade breaks the cycle and reference counting frees the object at once.

On shutdown uvicorn waits for every request in flight, including one whose client stopped
sending its body: such an upload held a SIGTERM for the whole graceful timeout and then died
with a traceback. Its connection is dropped at once instead; the app reads a disconnect.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class UpgradeFriendlyHttpProtocol(HttpToolsProtocol):
    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # Nothing reads the parser after an upgrade: data now goes to the WebSocket protocol.
        self.parser = None  # type: ignore[assignment]

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.more_body:
            # The request's body is not all here: nothing can be answered before the client
            # sends it, so do not wait for it (`connection_lost` tells the app: disconnect).
            self.transport.close()
            return
        super().shutdown()
