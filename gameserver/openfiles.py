"""How many sockets one server process may hold: its open-files limit, raised, and a bound.

Every player is a socket, and a socket is an open file. Linux starts a login shell with a soft
limit of 1,024 open files (the hard limit is usually 524,288 or more), so a server that keeps
the soft limit fails its 1,000-somethingth connection: the kernel refuses the `accept`, the
player's connect is reset, and nothing is logged. Worse, a process at its limit can no longer
open a connection to Redis, which fails the players it already has. Two measures:

- `raise_open_files_limit` lifts the soft limit to the hard one at start-up (any process may;
  Go's runtime does the same for every program). The hard limit is the operator's to set
  (`ulimit -Hn`, systemd's `LimitNOFILE=`).
- `connection_limit` keeps the last `reserved_files(redis_pool_size)` for the process's own
  files (`RESERVED_FILES` with the default pool); connections beyond the limit are refused
  whole (HTTP 503 before the WebSocket handshake, see `wsprotocol`), so the players already
  in keep playing.
"""

from __future__ import annotations

import resource

#: Connections of a process's Redis pool unless `LIVEQUIZ_REDIS_POOL_SIZE` says otherwise:
#: bounded, so a burst queues for a connection instead of opening thousands; answers are
#: batched per game, so it is sized for many games at once.
DEFAULT_REDIS_POOL_SIZE = 256
#: Files a process needs besides its clients' sockets and its Redis pool: the pub/sub
#: connection, the listening socket, the private Redis's pipes, log files, SQLite, Telegram's
#: HTTP client, and the short-lived sockets of refused connections.
OWN_FILES = 128


def reserved_files(redis_pool_size: int) -> int:
    """Files kept for the process itself with a Redis pool of `redis_pool_size` connections.
    On a cluster the pool is per node: at most `redis_pool_size` calls run at once
    (`redis_client.QueueingRedisCluster`), but each node's pool keeps the connections it once
    opened, so after bursts a process may hold up to `redis_pool_size` per master; this counts
    one pool."""
    return redis_pool_size + OWN_FILES


#: `reserved_files` with the default pool.
RESERVED_FILES = reserved_files(DEFAULT_REDIS_POOL_SIZE)

#: The soft limit asked for when the hard one is "unlimited" (Linux's default `fs.nr_open`).
UNLIMITED_TARGET = 1_048_576


def open_files_limit() -> int:
    """The soft limit of open files of this process."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else int(soft)


def raise_open_files_limit() -> tuple[int, int]:
    """Lift the soft open-files limit as far as the hard limit allows; returns (before, after).
    Child processes (the workers of `--workers N`) inherit it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = open_files_limit()
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else int(hard)
    # Some kernels cap below "unlimited" (macOS: OPEN_MAX); try smaller steps before giving up.
    for want in (target, 65_536, 10_240):
        if want <= before:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            break
        except (ValueError, OSError):
            continue
    return before, open_files_limit()


def connection_limit(
    max_connections: int, files: int | None = None, redis_pool_size: int = DEFAULT_REDIS_POOL_SIZE,
) -> int:
    """Connections this process accepts at once: `max_connections` (0: no setting), never more
    than its open files leave after `reserved_files(redis_pool_size)`, and at least 1."""
    room = (open_files_limit() if files is None else files) - reserved_files(redis_pool_size)
    limit = room if max_connections == 0 else min(max_connections, room)
    return max(1, limit)
