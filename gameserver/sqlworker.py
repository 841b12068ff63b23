"""A thread with its own event loop and database engine, for SQL work too big for the loop
that serves sockets.

SQLAlchemy's asyncio layer runs its (synchronous) statement building and row processing in a
greenlet on the calling loop: storing a 10,000-player game would hold the socket loop for tens
of milliseconds. Here that work runs on another thread; the socket loop only awaits a future,
and keeps running between the interpreter's thread switches (every 5 ms at most).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

from persistence.db import Database

T = TypeVar("T")


class SqlWorker:
    def __init__(self, url: str, schema: str | None = None) -> None:
        self._url = url
        self._schema = schema
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._db: Database | None = None
        self._thread = threading.Thread(target=self._main, name="sql-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._db = Database(self._url, schema=self._schema)
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._db.dispose())
        self._loop.close()

    async def run(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run `work(db)` on the worker's loop; await its result here."""
        db = self._db
        assert db is not None, "start() the worker first"

        async def call() -> T:
            return await work(db)

        future: Future[T] = asyncio.run_coroutine_threadsafe(call(), self._loop)
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
