"""The crash test's victims: `python -m tests.persistence.wallet_crash_child` imports the wallet
once, then for each JSON line read from standard input (`url`, `schema`, `op`, `arg`,
`kill_at`: N) forks a child that runs one money movement and SIGKILLs itself at its N-th
statement, and answers a JSON line: the child's exit code (-9 when killed, as `subprocess`
reports it), its output, and whether it timed out.

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
    for line in sys.stdin:
        asked = json.loads(line)
        answer = fork_victim(asked["url"], asked["schema"], asked["op"], int(asked["arg"]), int(asked["kill_at"]))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
