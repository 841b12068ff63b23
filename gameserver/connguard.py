"""Bounds on connections that hold a place without using it (slowloris, idle sockets).

~19,700 TCP connections that sent nothing, or headers at one byte a second, used to fill a
process's connection room (`openfiles.connection_limit`) for as long as the attacker liked:
every new request and handshake got 503. Two bounds, both in the HTTP protocol every
connection starts with (`httpprotocol`), before any of the app's work is spent:

- **time**: a request's headers must be complete within `Settings.header_timeout_s` of the
  connection (or of its first byte, on a kept-alive one), and its body within
  `Settings.body_timeout_s`; otherwise the connection is dropped. After an upgrade the game
  socket's own first-message timeout takes over.
- **count**: one client address holds at most `Settings.max_connections_per_ip` open
  connections (HTTP and WebSocket alike); past it a connection is answered `429
  too_many_connections` with `Retry-After` and closed. A listed proxy
  (`Settings.trusted_proxies`) is not counted: all its clients share its address.

The count lives in this process (a connection is held by one process), keyed by the peer
address and released when the transport goes, whichever protocol holds it by then.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter

from gameserver.settings import Settings

#: Seconds a client refused for holding too many connections is asked to wait.
RETRY_AFTER_S = 5
_BODY = b'{"error": {"code": "too_many_connections", "message": "Too many open connections from your address."}}'
TOO_MANY_RESPONSE = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: "
    + str(RETRY_AFTER_S).encode() + b"\r\nConnection: close\r\nContent-Length: "
    + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


@functools.cache
def guard_settings() -> tuple[float, float, int, frozenset[str]]:
    """(header timeout, body timeout, connections per address, trusted proxies), read once."""
    settings = Settings()
    proxies = frozenset(part.strip() for part in settings.trusted_proxies.split(",") if part.strip())
    return settings.header_timeout_s, settings.body_timeout_s, settings.max_connections_per_ip, proxies


class OpenConnections:
    """Open connections per client address in this process."""

    def __init__(self) -> None:
        self.by_ip: Counter[str] = Counter()
        self._holders: dict[asyncio.BaseTransport, str] = {}

    def admit(self, transport: asyncio.BaseTransport, ip: str, cap: int, exempt: frozenset[str]) -> bool:
        """Count a new connection of `ip`; False (not counted) when it already holds `cap`."""
        if cap <= 0 or ip in exempt:
            return True
        if self.by_ip[ip] >= cap:
            return False
        self.by_ip[ip] += 1
        self._holders[transport] = ip
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        """The connection is gone (idempotent: the HTTP and the WebSocket protocol both call it)."""
        ip = self._holders.pop(transport, None)
        if ip is None:
            return
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]


#: The one table of this process.
OPEN_CONNECTIONS = OpenConnections()
