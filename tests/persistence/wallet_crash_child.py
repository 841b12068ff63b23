"""The crash test's victims: `python -m tests.persistence.wallet_crash_child URL SCHEMA OP ARG`
imports the wallet once, then for each number N read from standard input forks a child that
runs one money movement and SIGKILLs itself at its N-th statement, and answers a JSON line:
the child's exit code (-9 when killed, as `subprocess` reports it) and its output.

Forking from a process that has only imported (no event loop, no connection, no thread yet)
gives each victim a process of its own, as a fresh `python` would, without paying ~1 s of
imports per statement of every movement."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import traceback

from persistence.db import Database
from persistence.wallet import ledger, service
from tests.persistence.wallet_support import CONFIG, PROVIDER

#: Seconds a victim may take before it is killed and reported as timed out.
VICTIM_TIMEOUT_S = 60


def run_victim(url: str, schema: str | None, op: str, arg: int, kill_at: int) -> None:
    """In the forked child: the movement, killed at statement `kill_at` (never when 0)."""
    seen = 0

    def hook(label: str) -> None:
        nonlocal seen
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no rollback: the process just ends

    ledger.statement_hook = hook

    async def run() -> None:
        db = Database(url, schema=schema)
        async with db.transaction() as session:
            if op == "transfer":
                await service.transfer(session, CONFIG, arg, 10_000, "main")
            elif op == "approve":
                await service.decide_withdrawal(session, PROVIDER, arg, arg, approve=True)
            elif op == "forfeit":
                await service.forfeit_balances(session, arg)
        await db.dispose()
        print(f"completed after {seen} statements", flush=True)

    asyncio.run(run())


def fork_victim(url: str, schema: str | None, op: str, arg: int, kill_at: int) -> dict[str, object]:
    """Fork a victim, wait for its end; its exit code and what it wrote (stdout and stderr)."""
    with tempfile.TemporaryFile() as output:
        pid = os.fork()
        if pid == 0:  # the victim: its output goes to the file, never to the answers' pipe
            os.dup2(output.fileno(), 1)
            os.dup2(output.fileno(), 2)
            code = 0
            try:
                run_victim(url, schema, op, arg, kill_at)
            except BaseException:  # reported as a `python` that raised would: exit code 1, traceback
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        deadline = time.monotonic() + VICTIM_TIMEOUT_S
        timed_out = False
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                done = os.waitpid(pid, 0)
                break
            time.sleep(0.005)
        output.seek(0)
        text = output.read().decode(errors="replace")
    return {"returncode": os.waitstatus_to_exitcode(done[1]), "output": text, "timed_out": timed_out}


def main() -> None:
    url, schema, op, arg = sys.argv[1], sys.argv[2] or None, sys.argv[3], int(sys.argv[4])
    for line in sys.stdin:
        answer = fork_victim(url, schema, op, arg, int(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
