"""The suite on several pytest-xdist workers at once (README's command: `-n 4 --dist loadfile`).

Most of the suite waits on servers, deadlines and sockets rather than computing, so four
worker processes share two cores well. What keeps them from disturbing each other:

- Redis. With LIVEQUIZ_TEST_REDIS_URL (one shared server, CI's machine Redis), worker `gwN`
  uses database `base + 1 + N` of it: the autouse fixtures that wipe the per-address budgets
  (`livequiz:ip:*`, ...) and every game's keys then stay within one worker. The URL is
  rewritten in the environment at start, so everything that reads the variable (the browser
  suite's server, `test_store.py`) follows. (Pub/sub channels are not per database: a game's
  channel carries its random 6-digit PIN, so two workers' live games would have to draw the
  same PIN at the same moment to hear each other.) Without the variable each worker starts
  its own private Valkey on a unix socket under its own temporary directory.
- Ports. Servers and Valkey nodes take a port the kernel handed out free (`bind(("", 0))`);
  another worker may still grab it before the process binds it, so `start_server` retries
  on a fresh port when its server could not bind.
- SQL. Each PostgreSQL test makes a schema with a random 48-bit name; SQLite files live in
  the worker's own temporary directory (pytest gives each worker a base directory).
- Timing. Tests that measure time (a stamp within 20 ms of the truth, idle and flood limits
  whose timers must fire on time) are marked `alone`: such a test waits until no other test
  is running on any worker, and the others wait until it is done (a reader-writer lock
  between the workers, `Turns`). Consecutive `alone` tests of one file keep the lock.
  Without xdist there is nothing to wait for.
- Order. `--dist loadfile` hands out whole files in the order the workers collected them
  (`order_files`; xdist's own reordering by test count is turned off): files with `alone` tests
  first, their `alone` tests first in them, so that every worker starts on one and none is in
  the middle of a long test an `alone` test would wait for; then files with `slow` tests, so
  that the longest ones do not start last and leave the others idle at the end.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

ALONE = "alone"
_turns: Turns | None = None
#: Redis servers have 16 databases unless configured otherwise.
REDIS_DATABASES = 16


def worker_number() -> int | None:
    """N of xdist's worker `gwN`; None outside xdist (or in its controller)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def worker_redis_url(url: str, worker: int) -> str:
    """The same server, database `base + 1 + worker` (`redis://h:p/0` or `unix://path?db=0`)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    path_db = parts.path.strip("/")
    base = int(query.get("db") or path_db or 0)
    database = base + 1 + worker
    if database >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"xdist worker gw{worker} would use Redis database {database} of {url}, past the default "
            f"{REDIS_DATABASES}: run fewer workers (-n) or point LIVEQUIZ_TEST_REDIS_URL at database 0"
        )
    if "db" in query or parts.scheme == "unix":
        query["db"] = str(database)
        return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{database}"))


def configure_worker(config: pytest.Config) -> None:
    """Give this xdist worker its own Redis database and its `Turns` (see the module's docstring)."""
    global _turns
    worker = worker_number()
    if worker is None:
        return
    url = os.environ.get("LIVEQUIZ_TEST_REDIS_URL", "")
    if url:
        os.environ["LIVEQUIZ_TEST_REDIS_URL"] = worker_redis_url(url, worker)
    # xdist hands each worker `<the run's base temp>/gwN`: the parent is the run's own.
    if config.option.basetemp:
        _turns = Turns(Path(config.option.basetemp).parent)


def order_files(items: list[pytest.Item]) -> None:
    """Reorder `items` in place for xdist's loadfile (see the module's docstring)."""
    if worker_number() is None:
        return
    rank: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    position: dict[int, int] = {}
    for index, item in enumerate(items):
        file = item.nodeid.split("::", 1)[0]
        mark = 0 if item.get_closest_marker(ALONE) else 1 if item.get_closest_marker("slow") else 2
        rank[file] = min(rank.get(file, 2), mark)
        first_seen.setdefault(file, index)
        position[id(item)] = index

    def key(item: pytest.Item) -> tuple[int, int, int, int]:
        file = item.nodeid.split("::", 1)[0]
        return rank[file], first_seen[file], 0 if item.get_closest_marker(ALONE) else 1, position[id(item)]

    items.sort(key=key)


def configure_controller(config: pytest.Config) -> None:
    """xdist's controller: hand files out in the workers' collection order (`order_files`)."""
    if worker_number() is None and getattr(config.option, "loadscopereorder", None) is not None:
        config.option.loadscopereorder = False


class Turns:
    """A reader-writer lock between the workers of one run, on two files (flock).

    Every test holds `main` shared; an `alone` test holds it exclusive. A Linux flock lets new
    shared holders in while an exclusive one waits, so a steady stream of ordinary tests could
    starve it: the `gate` is held exclusive by the `alone` test while it waits, and ordinary
    tests pass through it (shared, for an instant) before taking `main`."""

    def __init__(self, folder: Path) -> None:
        self._gate = os.open(folder / "turns.gate", os.O_RDWR | os.O_CREAT, 0o600)
        self._main = os.open(folder / "turns.main", os.O_RDWR | os.O_CREAT, 0o600)
        self.alone = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        fcntl.flock(self._gate, fcntl.LOCK_SH)
        try:
            fcntl.flock(self._main, fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._main, fcntl.LOCK_UN)

    def take_alone(self) -> None:
        if not self.alone:
            fcntl.flock(self._gate, fcntl.LOCK_EX)
            fcntl.flock(self._main, fcntl.LOCK_EX)
            self.alone = True

    def give_back(self) -> None:
        if self.alone:
            fcntl.flock(self._main, fcntl.LOCK_UN)
            fcntl.flock(self._gate, fcntl.LOCK_UN)
            self.alone = False


@contextmanager
def turn(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Run `item` (setup, call, teardown) when its turn comes (see `Turns`)."""
    lock = _turns
    if lock is None:
        yield
        return
    if item.get_closest_marker(ALONE) is None:
        with lock.shared():
            yield
        return
    lock.take_alone()
    try:
        yield
    finally:
        if nextitem is None or nextitem.get_closest_marker(ALONE) is None:
            lock.give_back()
