"""What the accounts area refuses, with the stable codes of PLATFORM.md.

`persistence` knows nothing of HTTP (DESIGN.md's dependency rule); the status each code answers
with is listed here once so the API layer need not repeat the table.
"""

from __future__ import annotations

from typing import Any

STATUS = {
    "invalid": 422,
    "username_taken": 409,
    "email_taken": 409,
    "phone_taken": 409,
    "bad_credentials": 401,
    "wrong_password": 403,
    "forbidden": 403,
    "not_found": 404,
    "code_invalid": 410,
}


class AccountError(Exception):
    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return STATUS[self.code]


def bad_credentials() -> AccountError:
    # One message for an unknown login and a wrong password: the answer tells nothing.
    return AccountError("bad_credentials", "the login or the password is wrong")
