"""Housekeeping on SQLite and PostgreSQL: ended tokens, old link codes and old idempotency keys
go after their retention; everything still of use (a live token, a token ended recently, a
fresh code, a key a retry may still present) and every money row stays."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, func, select

from persistence import housekeeping
from persistence.accounts import tokens
from persistence.accounts.models import AuthToken, TelegramLinkCode, User
from persistence.db import Database
from persistence.types import utcnow
from persistence.wallet.models import IdempotencyKey


async def _user(db: Database, name: str) -> int:
    async with db.transaction() as session:
        user = User(first_name=name)
        session.add(user)
        await session.flush()
        assert user.id is not None
        return user.id


async def test_ended_tokens_old_codes_and_old_keys_go_and_the_rest_stays(database: Database) -> None:
    now = utcnow()
    ada, bob = await _user(database, "Ada"), await _user(database, "Bob")
    retention = housekeeping.TOKEN_RETENTION
    async with database.transaction() as session:
        live = await tokens.issue(session, ada, "api")
        long_ago, later = now - retention - timedelta(hours=1), now + timedelta(days=9)
        session.add_all([
            AuthToken(digest="a" * 64, user_id=ada, kind="api", expires_at=long_ago),  # expired long ago
            AuthToken(digest="b" * 64, user_id=ada, kind="session", expires_at=now - timedelta(days=2)),  # lately
            AuthToken(digest="c" * 64, user_id=bob, kind="api", expires_at=later, revoked_at=long_ago),
            AuthToken(digest="d" * 64, user_id=bob, kind="api", expires_at=later, revoked_at=now - timedelta(hours=1)),
        ])
        session.add_all([
            TelegramLinkCode(digest="e" * 64, user_id=ada, expires_at=now - timedelta(days=2)),
            TelegramLinkCode(digest="f" * 64, user_id=ada, expires_at=now + timedelta(minutes=5)),
            IdempotencyKey(user_id=ada, key="old", fingerprint="0" * 64, status=201, response="{}",
                           created_at=now - timedelta(hours=25)),
            IdempotencyKey(user_id=bob, key="old", fingerprint="0" * 64, status=201, response="{}",
                           created_at=now - timedelta(hours=30)),
            IdempotencyKey(user_id=ada, key="new", fingerprint="0" * 64, status=201, response="{}",
                           created_at=now - timedelta(hours=23)),
        ])

    purged = await housekeeping.purge_ended(database, now=now)

    assert purged == housekeeping.Purged(tokens=2, link_codes=1, idempotency_keys=2)
    async with database.session() as session:
        left = set((await session.exec(select(AuthToken.digest))).all())
        codes = set((await session.exec(select(TelegramLinkCode.digest))).all())
        keys = set((await session.exec(select(IdempotencyKey.user_id, IdempotencyKey.key))).all())
        assert await tokens.resolve(session, live.token) is not None
    assert left == {tokens.digest(live.token), "b" * 64, "d" * 64}
    assert codes == {"f" * 64}
    assert keys == {(ada, "new")}
    assert (await housekeeping.purge_ended(database, now=now)).total == 0  # nothing more to do


async def test_a_backlog_goes_in_batches_and_what_is_left_goes_next_time(database: Database) -> None:
    now = utcnow()
    ada = await _user(database, "Ada")
    async with database.transaction() as session:
        session.add_all(
            AuthToken(digest=f"{i:064x}", user_id=ada, kind="session", expires_at=now - timedelta(days=40))
            for i in range(25)
        )
    first = await housekeeping.purge_ended(database, now=now, batch=4, max_batches=3)
    assert first.tokens == 12  # three batches of four, one transaction each
    second = await housekeeping.purge_ended(database, now=now, batch=4, max_batches=10)
    assert second.tokens == 13
    async with database.session() as session:
        assert (await session.exec(select(func.count()).select_from(AuthToken))).one() == 0
        assert (await session.exec(select(func.count()).where(col(User.id) == ada))).one() == 1
