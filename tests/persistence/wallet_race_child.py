"""One of several processes racing payments from one payer (the cross-process concurrency
test): `python -m tests.persistence.wallet_race_child URL SCHEMA PAYER OWNER COUNT`; prints how
many were paid and how many refused."""

from __future__ import annotations

import asyncio
import sys

from persistence.db import Database
from persistence.wallet import service
from persistence.wallet.errors import WalletError


async def race(url: str, schema: str | None, payer: int, owner: int, count: int) -> tuple[int, int]:
    db = Database(url, schema=schema)
    paid = refused = 0

    async def pay() -> None:
        nonlocal paid, refused
        try:
            async with db.transaction() as session:
                await service.pay_for_exam(session, payer, owner, 1_000, exam_id=1)
        except WalletError as refusal:
            assert refusal.code == "insufficient_funds", refusal.code
            refused += 1
        else:
            paid += 1

    try:
        await asyncio.gather(*(pay() for _ in range(count)))
    finally:
        await db.dispose()
    return paid, refused


def main() -> None:
    url, schema, payer, owner, count = sys.argv[1], sys.argv[2] or None, *map(int, sys.argv[3:6])
    paid, refused = asyncio.run(race(url, schema, payer, owner, count))
    print(f"{paid} {refused}", flush=True)


if __name__ == "__main__":
    main()
