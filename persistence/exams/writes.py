"""One writer at a time per process on SQLite, waiting in line instead of in SQLite's busy
handler.

SQLite takes one writer at a time. When several pooled connections of one process try at once,
the losers sleep in SQLite's busy handler (1, 2, 5 ... 100 ms naps) and retry: under a thousand
concurrent attempts that turned a 3 ms answer into seconds. Queuing the attempts' write
transactions on an asyncio lock hands the write lock over at once; other processes still meet
at SQLite's own lock. PostgreSQL locks rows, so there the lock is not taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from weakref import WeakKeyDictionary

from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.db import Database

_locks: WeakKeyDictionary[Database, asyncio.Lock] = WeakKeyDictionary()


@asynccontextmanager
async def write_transaction(db: Database) -> AsyncIterator[AsyncSession]:
    """`db.transaction()`, queued behind this process's other exam writes on SQLite."""
    if not db.is_sqlite:
        async with db.transaction() as session:
            yield session
        return
    lock = _locks.get(db)
    if lock is None:
        lock = _locks[db] = asyncio.Lock()
    async with lock, db.transaction() as session:
        yield session
