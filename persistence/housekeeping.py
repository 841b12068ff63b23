"""Rows that only ever grow unless somebody removes them, removed once they serve nobody.

- Ended API tokens and browser sessions (`auth_tokens`): every sign-in writes one, and an
  expired or revoked row never signs anybody in again. It is kept `TOKEN_RETENTION` past its
  end, so that a user's data export still shows recent sign-ins, then deleted.
- Telegram link codes (`telegram_link_codes`): ten minutes of life, kept a day past it.
- Wallet idempotency keys (`wallet_idempotency_keys`): a retry is answered from its key for at
  least `idempotency.KEEP` (24 h); older keys are forgotten (`idempotency.purge`).

Each table is cleared in batches of `batch` rows, one short transaction each, so that a large
backlog (the first run on an old database) never holds locks for long; at most `max_batches`
per table per call, the rest waits for the next call. Nothing here touches money: a ledger row,
a top-up or a withdrawal is never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, tuple_
from sqlmodel import col, select

from persistence.accounts.models import AuthToken, TelegramLinkCode
from persistence.db import Database
from persistence.types import utcnow
from persistence.wallet.idempotency import KEEP
from persistence.wallet.models import IdempotencyKey

TOKEN_RETENTION = timedelta(days=30)
LINK_CODE_RETENTION = timedelta(days=1)
BATCH = 1_000
MAX_BATCHES = 20


@dataclass(frozen=True)
class Purged:
    tokens: int = 0
    link_codes: int = 0
    idempotency_keys: int = 0

    @property
    def total(self) -> int:
        return self.tokens + self.link_codes + self.idempotency_keys


async def purge_ended(
    db: Database, *, now: datetime | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES
) -> Purged:
    """Delete what has served its time (see the module's text); how many rows of each."""
    now = now or utcnow()
    token_cutoff = now - TOKEN_RETENTION
    ended_tokens = or_(col(AuthToken.expires_at) < token_cutoff, col(AuthToken.revoked_at) < token_cutoff)
    tokens = await _in_batches(
        db, delete(AuthToken), col(AuthToken.id), select(col(AuthToken.id)).where(ended_tokens), batch, max_batches
    )
    code_cutoff = now - LINK_CODE_RETENTION
    codes = await _in_batches(
        db, delete(TelegramLinkCode), col(TelegramLinkCode.digest),
        select(col(TelegramLinkCode.digest)).where(col(TelegramLinkCode.expires_at) < code_cutoff), batch, max_batches,
    )
    keys = await _purge_idempotency_keys(db, now - KEEP, batch, max_batches)
    return Purged(tokens, codes, keys)


async def _in_batches(
    db: Database, deletion: Any, key: Any, candidates: Any, batch: int, max_batches: int
) -> int:
    """`deletion` of the rows whose `key` is among the first `batch` `candidates`, repeated in
    transactions of their own until fewer than `batch` went or `max_batches` ran."""
    done = 0
    for _ in range(max_batches):
        async with db.transaction() as session:
            ids = list((await session.exec(candidates.limit(batch))).all())
            if ids:
                await session.exec(deletion.where(key.in_(ids)))
        done += len(ids)
        if len(ids) < batch:
            break
    return done


async def _purge_idempotency_keys(db: Database, cutoff: datetime, batch: int, max_batches: int) -> int:
    """The keys' primary key is two columns (user, key): a batch is chosen and deleted by the pair."""
    pair = tuple_(col(IdempotencyKey.user_id), col(IdempotencyKey.key))
    old = select(col(IdempotencyKey.user_id), col(IdempotencyKey.key)).where(col(IdempotencyKey.created_at) < cutoff)
    done = 0
    for _ in range(max_batches):
        async with db.transaction() as session:
            rows = [tuple(row) for row in (await session.exec(old.limit(batch))).all()]
            if rows:
                await session.exec(delete(IdempotencyKey).where(pair.in_(rows)))
        done += len(rows)
        if len(rows) < batch:
            break
    return done
