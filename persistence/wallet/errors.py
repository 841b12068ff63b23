"""Wallet refusals: a status, a stable code and a message, mapped to the HTTP error by the API.

`persistence` never imports `gameserver` (DESIGN.md's dependency rule), so these carry what
`PlatformError` needs without being one.
"""

from __future__ import annotations

from typing import Any


class WalletError(Exception):
    """`details`: a list of problems with the request body (`{loc, msg, type}`, as every 422 of the
    API); `facts`: further fields of the error object, e.g. `needed` and `available`."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, **facts: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.facts = facts


def insufficient_funds(needed: int, available: int) -> WalletError:
    return WalletError(
        402,
        "insufficient_funds",
        f"this needs {needed} so'm; {available} so'm available",
        needed=needed,
        available=available,
    )


def not_found(what: str) -> WalletError:
    return WalletError(404, "not_found", f"no such {what}")


def already_decided(status: str) -> WalletError:
    return WalletError(409, "already_decided", f"this withdrawal was already {status}", decision=status)
