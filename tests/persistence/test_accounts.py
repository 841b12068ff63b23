"""Accounts on SQLite and PostgreSQL: register, login, logout, profile, password change,
admin roles, and the audit log every one of them writes (append-only in the database)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from persistence.accounts import admin, audit, hooks, passwords, service, tokens
from persistence.accounts.errors import AccountError
from persistence.accounts.models import User
from persistence.db import Database


def alice(**extra: Any) -> dict[str, Any]:
    return {"username": "alice", "password": "correct horse 1", "first_name": "Alice", "last_name": "Liddell",
            "email": "Alice@Example.org", "phone": "+998 (90) 123-45-67"} | extra


async def principal(db: Database, token: str) -> tokens.Principal:
    async with db.session() as session:
        found = await tokens.resolve(session, token)
    assert found is not None
    return found


async def alive(db: Database, token: str) -> bool:
    async with db.session() as session:
        return await tokens.resolve(session, token) is not None


async def actions(db: Database, user_id: int) -> list[str]:
    async with db.session() as session:
        return [e.action for e in await audit.entries(session, limit=100, user_id=user_id)][::-1]


async def test_register_stores_a_normalised_profile_and_a_working_api_token(database: Database) -> None:
    made = await service.register(database, alice(), ip="10.0.0.1")
    me = service.profile(made.user)
    assert me["username"] == "alice" and me["email"] == "alice@example.org" and me["phone"] == "+998901234567"
    assert me["role"] == "user" and me["telegram_id"] is None and me["created_at"].endswith("Z")
    assert set(me) == {"id", "username", "first_name", "last_name", "email", "phone", "telegram_id", "role",
                       "created_at"}
    found = await principal(database, made.token.token)
    assert found.user_id == made.user.id and found.kind == "api"
    async with database.session() as session:
        stored = await session.get(User, made.user.id)
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse 1" not in stored.password_hash
    assert await actions(database, made.user.id or 0) == ["register"]


@pytest.mark.parametrize(("field", "value", "code"), [
    ("username", "ALICE", None), ("email", "ALICE@example.org", "email_taken"),
    ("phone", "998901234567", "phone_taken"), ("username", "alice", "username_taken"),
])
async def test_register_refuses_a_taken_username_email_or_phone(
    database: Database, field: str, value: str, code: str | None
) -> None:
    await service.register(database, alice())
    other = {"username": "bob", "password": "password 22", "first_name": "Bob", field: value}
    with pytest.raises(AccountError) as caught:
        await service.register(database, other)
    # An upper-case username is not a taken one: it is not a username at all (a-z only).
    assert caught.value.code == (code or "invalid")
    assert caught.value.status == (409 if code else 422)


async def test_register_lists_every_invalid_field_at_once(database: Database) -> None:
    with pytest.raises(AccountError) as caught:
        await service.register(database, {"username": "a!", "password": "onlyletters", "email": "no-at-sign",
                                          "phone": "12", "last_name": 5})
    assert caught.value.code == "invalid"
    fields = {item["loc"][1] for item in caught.value.details}
    assert fields == {"username", "password", "first_name", "email", "phone", "last_name"}


@pytest.mark.parametrize("password", ["short1", "no digits here", "12345678", "x1" * 200])
async def test_the_password_rule(database: Database, password: str) -> None:
    with pytest.raises(AccountError) as caught:
        await service.register(database, alice(password=password))
    problem = {"loc": ["body", "password"], "msg": passwords.password_problem(password), "type": "value_error"}
    assert caught.value.details == [problem]


async def test_referral_is_recorded_and_offered_to_the_wallet_hook_once(database: Database) -> None:
    calls: list[tuple[int, int | None]] = []

    async def hook(_session: Any, user_id: int, referrer_id: int | None) -> None:
        calls.append((user_id, referrer_id))

    hooks.on_registered.append(hook)
    try:
        first = await service.register(database, alice())
        second = await service.register(database, {"username": "bob", "password": "password 22",
                                                   "first_name": "Bob", "referral": "alice"})
        with pytest.raises(AccountError) as caught:
            await service.register(database, {"username": "carol", "password": "password 22",
                                              "first_name": "Carol", "referral": "nobody"})
    finally:
        hooks.on_registered.remove(hook)
    assert caught.value.code == "invalid" and caught.value.details[0]["loc"] == ["body", "referral"]
    assert second.user.referred_by == first.user.id
    assert calls == [(first.user.id, None), (second.user.id, first.user.id)]


@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@example.org", "+998901234567", "998 90 123 45 67"])
async def test_login_by_username_email_or_phone(database: Database, login: str) -> None:
    made = await service.register(database, alice())
    logged = await service.login(database, login, "correct horse 1", ip="10.0.0.2")
    assert logged.user.id == made.user.id
    api, browser = await principal(database, logged.api_token.token), await principal(database, logged.session.token)
    assert (api.kind, browser.kind) == ("api", "session")
    assert logged.session.csrf is not None and browser.csrf_ok(logged.session.csrf) and not browser.csrf_ok("x")
    lifetime = logged.api_token.expires_at - logged.session.expires_at
    assert lifetime.days == 29  # 30 days against 12 hours


async def test_unknown_login_and_wrong_password_fail_alike_and_both_check_a_hash(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await service.register(database, alice())
    checked: list[str] = []
    real_verify = passwords._verify

    def counting_verify(stored: str, password: str) -> bool:
        checked.append(stored)
        return real_verify(stored, password)

    monkeypatch.setattr(passwords, "_verify", counting_verify)
    errors = []
    for login, password in [("alice", "wrong password 1"), ("nobody", "wrong password 1"), ("alice", None)]:
        with pytest.raises(AccountError) as caught:
            await service.login(database, login, password)
        errors.append((caught.value.status, caught.value.code, caught.value.message))
    assert errors[0] == errors[1] == errors[2] == (401, "bad_credentials", "the login or the password is wrong")
    # Both the wrong password and the unknown user cost one argon2 verification.
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)
    # The wrong password is logged against the account; the unknown login against nobody, and
    # without the login string (it may be someone's email).
    assert await actions(database, made.user.id or 0) == ["register", "login.failed"]
    async with database.session() as session:
        failed = await audit.entries(session, limit=10, action=audit.LOGIN_FAILED)
    assert [(e.target_user_id, e.details) for e in failed] == [(None, {}), (made.user.id, {})]


async def test_logout_ends_only_the_credential_it_was_called_with(database: Database) -> None:
    await service.register(database, alice())
    logged = await service.login(database, "alice", "correct horse 1")
    await service.logout(database, await principal(database, logged.session.token))
    assert not await alive(database, logged.session.token)
    assert await alive(database, logged.api_token.token)


async def test_profile_update_checks_like_register_and_clears_optional_fields(database: Database) -> None:
    made = await service.register(database, alice())
    await service.register(database, {"username": "bob", "password": "password 22", "first_name": "Bob",
                                      "email": "bob@example.org"})
    me = await principal(database, made.token.token)
    with pytest.raises(AccountError) as taken:
        await service.update_profile(database, me, {"email": "BOB@example.org"})
    assert taken.value.code == "email_taken"
    with pytest.raises(AccountError) as bad:
        await service.update_profile(database, me, {"first_name": "", "role": "admin"})
    assert {item["loc"][1] for item in bad.value.details} == {"first_name", "role"}
    changes = {"username": "alice2", "phone": None, "email": "alice@example.org"}
    user = await service.update_profile(database, me, changes)
    assert (user.username, user.phone, user.email, user.role) == ("alice2", None, "alice@example.org", "user")
    async with database.session() as session:
        entries = await audit.entries(session, limit=10, action=audit.PROFILE_UPDATE)
    assert entries[0].details == {"fields": ["phone", "username"]}  # names only, never values


async def test_password_change_ends_every_other_session(database: Database) -> None:
    made = await service.register(database, alice())
    other = await service.login(database, "alice", "correct horse 1")
    me = await principal(database, made.token.token)
    with pytest.raises(AccountError) as wrong:
        await service.change_password(database, me, {"old": "not it 1", "new": "new secret 2"})
    assert (wrong.value.status, wrong.value.code) == (403, "wrong_password")
    with pytest.raises(AccountError) as weak:
        await service.change_password(database, me, {"old": "correct horse 1", "new": "weak"})
    assert weak.value.code == "invalid"
    await service.change_password(database, me, {"old": "correct horse 1", "new": "new secret 2"})
    assert await alive(database, made.token.token)
    assert not await alive(database, other.api_token.token) and not await alive(database, other.session.token)
    with pytest.raises(AccountError):
        await service.login(database, "alice", "correct horse 1")
    assert (await service.login(database, "alice", "new secret 2")).user.id == made.user.id


async def test_admin_create_grant_and_role_changes_are_audited(database: Database) -> None:
    root, password = await admin.create_admin(database, "root")
    assert root.role == "admin" and passwords.password_problem(password) is None
    assert (await service.login(database, "root", password)).user.id == root.id
    with pytest.raises(AccountError) as exists:
        await admin.create_admin(database, "root")
    assert exists.value.code == "username_taken"
    made = await service.register(database, alice())
    assert (await admin.grant_admin(database, "Alice")).role == "admin"
    await admin.set_role(database, made.user.id or 0, "user", actor_id=root.id, ip="10.0.0.9")
    async with database.session() as session:
        changes = await audit.entries(session, limit=10, action=audit.ROLE_CHANGE)
    assert [(e.actor_id, e.details["to"]) for e in changes] == [(root.id, "user"), (None, "admin")]
    with pytest.raises(AccountError) as missing:
        await admin.grant_admin(database, "nobody")
    assert missing.value.code == "not_found"


async def test_nobody_edits_the_audit_log(database: Database) -> None:
    await service.register(database, alice())
    for statement in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log"):
        with pytest.raises((DBAPIError, IntegrityError)) as refused:
            async with database.transaction() as session:
                await session.exec(text(statement))  # type: ignore[call-overload]
        assert "append-only" in str(refused.value)
    async with database.session() as session:
        assert [e.action for e in await audit.entries(session, limit=10)] == ["register"]
