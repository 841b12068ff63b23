"""The rest of an account's life on SQLite and PostgreSQL: the Telegram link code, password
reset, the data export, and deletion that removes personal data for good."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from persistence.accounts import audit, deletion, export, hooks, reset, service, telegram, tokens
from persistence.accounts.errors import AccountError
from persistence.accounts.models import TelegramLinkCode, User
from persistence.db import Database
from persistence.results import store
from persistence.types import utcnow


@pytest.fixture(autouse=True)
def only_this_tests_hooks() -> Any:
    """The accounts area alone: other areas' hooks (the wallet's bonuses, the exams' export)
    are registered process-wide once their modules load, and this file tests the accounts'
    own part; each test adds what it needs and everything is put back after."""
    saved = (list(hooks.on_registered), list(hooks.on_deleted), dict(hooks.export_sections))
    hooks.on_registered.clear()
    hooks.on_deleted.clear()
    hooks.export_sections.clear()
    yield
    hooks.on_registered[:], hooks.on_deleted[:] = saved[0], saved[1]
    hooks.export_sections.clear()
    hooks.export_sections.update(saved[2])


async def register(db: Database, username: str, **extra: Any) -> service.Registered:
    return await service.register(db, {"username": username, "password": "password 12", "first_name": username.title(),
                                       **extra})


async def principal(db: Database, token: str) -> tokens.Principal | None:
    async with db.session() as session:
        return await tokens.resolve(session, token)


async def test_a_link_code_links_once_and_only_within_ten_minutes(database: Database) -> None:
    made = await register(database, "alice")
    code = await telegram.new_link_code(database, made.user.id or 0)
    assert len(code.code) == 8 and timedelta(minutes=9) < code.expires_at - utcnow() <= timedelta(minutes=10)
    assert not await telegram.link_telegram(database, "WRONG123", 555)
    assert await telegram.link_telegram(database, code.code.lower(), 555)  # typed in lower case: fine
    assert not await telegram.link_telegram(database, code.code, 556)  # used
    assert (await telegram.user_of_telegram(database, 555)).id == made.user.id  # type: ignore[union-attr]
    stale = await telegram.new_link_code(database, made.user.id or 0)
    async with database.transaction() as session:
        await session.exec(update(TelegramLinkCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert not await telegram.link_telegram(database, stale.code, 556)


async def test_a_telegram_account_moves_to_the_account_that_links_it_last(database: Database) -> None:
    first, second = await register(database, "alice"), await register(database, "bob")
    assert await telegram.link_telegram(database, (await telegram.new_link_code(database, first.user.id or 0)).code, 7)
    assert await telegram.link_telegram(database, (await telegram.new_link_code(database, second.user.id or 0)).code, 7)
    async with database.session() as session:
        assert (await session.get(User, first.user.id)).telegram_id is None  # type: ignore[union-attr]
        assert (await session.get(User, second.user.id)).telegram_id == 7  # type: ignore[union-attr]
    await telegram.unlink_telegram(database, second.user.id or 0)
    assert await telegram.user_of_telegram(database, 7) is None


async def test_a_new_code_replaces_the_unused_one(database: Database) -> None:
    made = await register(database, "alice")
    old = await telegram.new_link_code(database, made.user.id or 0)
    new = await telegram.new_link_code(database, made.user.id or 0)
    assert not await telegram.link_telegram(database, old.code, 9)
    assert await telegram.link_telegram(database, new.code, 9)


async def test_reset_prefers_telegram_then_email_and_ends_every_session(database: Database) -> None:
    by_mail = await register(database, "alice", email="alice@example.org")
    by_bot = await register(database, "bob", email="bob@example.org")
    nowhere = await register(database, "carol")
    await telegram.link_telegram(database, (await telegram.new_link_code(database, by_bot.user.id or 0)).code, 42)
    mail = await reset.plan(database, "ALICE@example.org")
    bot = await reset.plan(database, "bob")
    assert mail is not None and (mail.channel, mail.address) == ("email", "alice@example.org")
    assert bot is not None and (bot.channel, bot.address) == ("telegram", "42")
    assert await reset.plan(database, "carol") is None and await reset.plan(database, "nobody") is None
    # Planned but not applied (the message was not sent): nothing changed.
    assert (await service.login(database, "alice", "password 12")).user.id == by_mail.user.id
    await reset.apply(database, mail)
    assert await principal(database, by_mail.token.token) is None
    with pytest.raises(AccountError):
        await service.login(database, "alice", "password 12")
    assert (await service.login(database, "alice", mail.password)).user.id == by_mail.user.id
    assert await reset.plan(database, "alice") is None  # one reset per account per 5 minutes
    async with database.session() as session:
        notes = await audit.entries(session, limit=10, action=audit.PASSWORD_RESET_UNDELIVERABLE)
    assert {(n.target_user_id, n.details["reason"]) for n in notes} == {
        (nowhere.user.id, "no Telegram link and no email"), (by_mail.user.id, "too soon after the last reset")}


async def finished_game(db: Database, host_id: int, player_id: int) -> None:
    await store.record_game(db, store.FinishedGame(
        game_key="123456:1", pin="123456", title="Capitals", host_digest="d" * 64, question_count=2,
        finished_at=utcnow(), host_user_id=host_id,
        lines=[store.ResultLine(1, "Alice A.", 1900, 2, 2, player_id), store.ResultLine(2, "Guest", 800, 2, 1)],
    ))


async def test_export_holds_everything_stored_about_the_user(database: Database) -> None:
    made = await register(database, "alice", email="alice@example.org")
    await finished_game(database, made.user.id or 0, made.user.id or 0)

    async def attempts(_session: Any, user_id: int) -> list[dict[str, Any]]:
        return [{"attempt_of": user_id}]

    hooks.export_sections["attempts"] = attempts
    try:
        document = await export.export(database, made.user.id or 0)
    finally:
        del hooks.export_sections["attempts"]
    assert document["profile"]["email"] == "alice@example.org" and document["profile"]["referred_by"] is None
    assert [t["kind"] for t in document["tokens"]] == ["api"] and "digest" not in document["tokens"][0]
    assert [e["action"] for e in document["audit"]] == ["register"]
    assert document["games_hosted"][0]["title"] == "Capitals" and len(document["games_hosted"][0]["results"]) == 2
    assert [(r["title"], r["rank"], r["score"]) for r in document["results"]] == [("Capitals", 1, 1900)]
    assert document["attempts"] == [{"attempt_of": made.user.id}] and document["wallet_transactions"] == []


async def test_deletion_removes_personal_data_keeps_results_as_deleted_user_and_ends_tokens(
    database: Database,
) -> None:
    made = await register(database, "alice", email="alice@example.org", phone="+998901112233", last_name="L")
    other = await service.login(database, "alice", "password 12")
    await telegram.link_telegram(database, (await telegram.new_link_code(database, made.user.id or 0)).code, 77)
    pending = await telegram.new_link_code(database, made.user.id or 0)
    await finished_game(database, made.user.id or 0, made.user.id or 0)
    forfeited: list[int] = []

    async def forfeit(_session: Any, user_id: int) -> None:
        forfeited.append(user_id)

    async with database.transaction() as session:  # as if Google sign-in were linked too
        await session.exec(update(User).where(col(User.id) == made.user.id).values(google_sub="g-1"))
    me = await principal(database, made.token.token)
    assert me is not None
    with pytest.raises(AccountError) as wrong:
        await deletion.delete_account(database, me, "not my password 1")
    assert wrong.value.code == "wrong_password"
    hooks.on_deleted.append(forfeit)
    try:
        await deletion.delete_account(database, me, "password 12")
    finally:
        hooks.on_deleted.remove(forfeit)
    assert forfeited == [made.user.id]
    async with database.session() as session:
        row = await session.get(User, made.user.id)
        assert row is not None and row.deleted_at is not None
        assert (row.username, row.password_hash, row.first_name, row.last_name, row.email, row.phone,
                row.telegram_id, row.google_sub) == (None,) * 8
        codes = (await session.exec(
            TelegramLinkCode.__table__.select().where(col(TelegramLinkCode.user_id) == made.user.id)  # type: ignore[attr-defined]
        )).all()
        assert codes == []
    for token in (made.token.token, other.api_token.token, other.session.token):
        assert await principal(database, token) is None
    assert not await telegram.link_telegram(database, pending.code, 78)
    hosted = await store.hosted_by(database, made.user.id or 0, limit=10, before_id=None)
    assert [line.name for line in hosted[0][1]] == [store.DELETED_USER, "Guest"]
    with pytest.raises(AccountError):
        await service.login(database, "alice@example.org", "password 12")
    # The name is free again: a new account may take it.
    assert (await register(database, "alice", email="alice@example.org")).user.id != made.user.id
