"""Password hashing (argon2id through argon2-cffi) and the password rule.

Parameters: argon2id, time cost 2, memory 19 MiB (19,456 KiB), parallelism 1, 16-byte salt,
32-byte hash — the OWASP minimum for argon2id. They set how many logins a second one process
can check (`loadtests/bench_logins.py`); stored hashes carry their parameters, and a login
whose hash was made with other ones is re-hashed with these.

Hashing and verifying take tens of milliseconds of CPU, so they run in a worker thread (the
C code releases the GIL) and never block the event loop that serves game sockets.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST = 2
MEMORY_COST_KIB = 19_456
PARALLELISM = 1
MIN_LENGTH = 8
#: Longer passwords are refused: hashing cost grows with length, and nobody types 256 characters.
MAX_LENGTH = 256
RESET_PASSWORD_LENGTH = 14

HASHER = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, hash_len=32, salt_len=16,
    type=Type.ID,
)

_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")


def password_problem(password: object) -> str | None:
    """Why a new password is refused (PLATFORM.md: at least 8 characters with a letter and a
    digit), or None when it is acceptable."""
    if not isinstance(password, str):
        return "must be a string"
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if not _LETTER.search(password) or not _DIGIT.search(password):
        return "must contain a letter and a digit"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


def _verify_dummy(password: str) -> None:
    _verify(_dummy_hash(), password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Check `password` against `stored`. With no stored hash (unknown user, deleted account,
    no password set) a dummy hash is checked instead, so the answer takes the same time and
    a caller cannot tell an unknown login from a wrong password by the clock."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        password = ""
    if stored is None:
        await asyncio.to_thread(_verify_dummy, password)
        return False
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def random_password(length: int = RESET_PASSWORD_LENGTH) -> str:
    """A new password for a reset: letters and digits (easy to type from a message), always
    with both, ~80 bits at 14 characters."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if password_problem(candidate) is None:
            return candidate
