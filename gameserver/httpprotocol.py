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

Every connection starts here, so this is also where `connguard`'s bounds apply: the open
connections of one address, and the time a request may take to arrive (its deadlines are
entries in `deadlines.REQUEST_DEADLINES`, not a timer each).
"""

from __future__ import annotations

import asyncio
import logging

from gameserver.connguard import OPEN_CONNECTIONS, TOO_MANY_RESPONSE, guard_settings
from gameserver.deadlines import REQUEST_DEADLINES
from gameserver.fastpath_adapter import HttpProtocolBase, request_body_pending

log = logging.getLogger(__name__)


class UpgradeFriendlyHttpProtocol(HttpProtocolBase):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        header_s, _body_s, per_ip, proxies = guard_settings()
        ip = self.client[0] if self.client else ""
        if not OPEN_CONNECTIONS.admit(transport, ip, per_ip, proxies):
            # Closed before anything is read: no data reaches this protocol.
            transport.write(TOO_MANY_RESPONSE)
            transport.close()
            return
        REQUEST_DEADLINES.arm(self, header_s, self.loop)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.cycle is not None:  # the next request on a kept-alive connection (the first is armed)
            REQUEST_DEADLINES.arm(self, guard_settings()[0], self.loop)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        REQUEST_DEADLINES.arm(self, guard_settings()[1], self.loop)  # now the body (disarmed when none)

    def on_message_complete(self) -> None:
        REQUEST_DEADLINES.disarm(self)
        super().on_message_complete()

    def request_overdue(self) -> None:
        """A request that did not arrive in time (`REQUEST_DEADLINES`): drop the connection
        (nothing to answer)."""
        log.debug("dropping a connection from %s: its request is too slow", self.client)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        REQUEST_DEADLINES.disarm(self)
        OPEN_CONNECTIONS.release(self.transport)
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # Already disarmed by `on_message_complete` (an upgrade has no body), made sure of here:
        # the transport is the game socket's now, and its first-message timeout takes over.
        REQUEST_DEADLINES.disarm(self)
        super().handle_websocket_upgrade()
        # Nothing reads the parser after an upgrade: data now goes to the WebSocket protocol.
        self.parser = None  # type: ignore[assignment]

    def shutdown(self) -> None:
        if request_body_pending(self.cycle):
            # The request's body is not all here: nothing can be answered before the client
            # sends it, so do not wait for it (`connection_lost` tells the app: disconnect).
            self.transport.close()
            return
        super().shutdown()
