"""A process that runs one money movement and SIGKILLs itself at its N-th statement (the
crash test's victim): `python -m tests.persistence.wallet_crash_child URL SCHEMA OP ARG N`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from persistence.db import Database
from persistence.wallet import ledger, service
from tests.persistence.wallet_support import CONFIG, PROVIDER


def main() -> None:
    url, schema, op, arg, kill_at = sys.argv[1], sys.argv[2] or None, sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
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


if __name__ == "__main__":
    main()
