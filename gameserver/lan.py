"""The address phones on the classroom network use to reach this machine (`livequiz serve --lan`).

The LAN address is the one the operating system would send from towards a private network: a
UDP socket is "connected" (no packet is sent; UDP connect only picks a route) and its local
address read. `LIVEQUIZ_PUBLIC_URL` always wins: behind a proxy or with a name, say it there.
"""

from __future__ import annotations

import ipaddress
import os
import socket

#: Private destinations tried in turn: the route to one of them is the classroom's interface.
PROBES = ("10.255.255.255", "192.168.255.255", "172.31.255.255")
LISTEN_ALL = "0.0.0.0"


def lan_address() -> str | None:
    """This machine's address on the local network, or None when it has none but loopback."""
    for probe in PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))
                address = str(sock.getsockname()[0])
            except OSError:
                continue
        if not ipaddress.ip_address(address).is_loopback and address != LISTEN_ALL:
            return address
    return None


def lan_public_url(port: int) -> str:
    """What the lobby shows: LIVEQUIZ_PUBLIC_URL if set, else http://<LAN address>:<port>."""
    configured = os.environ.get("LIVEQUIZ_PUBLIC_URL", "").strip()
    if configured:
        return configured.rstrip("/")
    address = lan_address() or "127.0.0.1"
    return f"http://{address}:{port}"
