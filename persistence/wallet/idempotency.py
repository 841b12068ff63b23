"""Idempotency keys with Stripe's semantics (PLATFORM.md "Conventions").

The key row is inserted in the same SQL transaction as the movement and its response, so
another request with the key sees either no row (it runs) or the finished one (it replays):
there is no "in progress" state to get stuck in. Two requests with one key at once: the second
insert waits on the key's unique index until the first commits, fails, and the second replays.

What is stored: every answer of an operation that started, including refusals such as
`402 insufficient_funds` (a retry must not turn into a different outcome later), but not
validation errors found before (422 on a bad body) nor server errors (rolled back: nothing
moved, a retry may run). The same key with another method, path or body is
`409 idempotency_mismatch`. Keys are per user and kept at least `KEEP` (24 h).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.db import Database
from persistence.types import utcnow
from persistence.wallet.errors import WalletError
from persistence.wallet.models import IdempotencyKey

KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def error_body(error: WalletError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    body.update(error.facts)
    return {"error": body}


def fingerprint(method: str, path: str, body: dict[str, Any]) -> str:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(method.upper().encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def check_key(key: str | None) -> str:
    if key is None:
        raise WalletError(
            400, "idempotency_key_required", "send an Idempotency-Key header (1–255 characters) with this request"
        )
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise WalletError(400, "invalid_idempotency_key", "Idempotency-Key must be 1–255 printable characters")
    return key


Operation = Callable[[AsyncSession], Awaitable[Outcome]]


async def run_once(db: Database, user_id: int, key: str, print_: str, operation: Operation) -> Outcome:
    """Run `operation` once for (user, key), or replay its stored outcome."""
    for _ in range(5):
        try:
            async with db.transaction() as session:
                existing = await session.get(IdempotencyKey, (user_id, key))
                if existing is not None:
                    if existing.fingerprint != print_:
                        raise WalletError(
                            409,
                            "idempotency_mismatch",
                            "this Idempotency-Key was used with another request; use a new key",
                        )
                    return Outcome(existing.status, orjson.loads(existing.response), replayed=True)
                row = IdempotencyKey(user_id=user_id, key=key, fingerprint=print_, status=0, response="")
                session.add(row)
                await session.flush()  # a concurrent holder of this key: wait here, then IntegrityError
                try:
                    async with session.begin_nested():
                        outcome = await operation(session)
                except WalletError as refusal:
                    outcome = Outcome(refusal.status, error_body(refusal))
                row.status, row.response = outcome.status, orjson.dumps(outcome.body).decode()
                await session.flush()
            return outcome
        except IntegrityError:
            continue  # the other request committed first: the next round replays its answer
    raise RuntimeError("idempotency key contention did not settle")


async def purge(session: AsyncSession, now_minus: timedelta = KEEP) -> int:
    """Forget keys older than `now_minus` (never less than 24 h)."""
    cutoff = utcnow() - max(now_minus, KEEP)
    result = await session.exec(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < cutoff))
    return int(result.rowcount or 0)
