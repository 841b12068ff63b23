"""PLATFORM.md "Accounts" against a real server process and Redis, on SQLite and PostgreSQL:
status codes, error codes and fields exactly as written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from persistence.accounts import telegram
from persistence.db import Database
from tests.accounts_support import accounts_server, backends, bearer, client, new_user, register
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

PROFILE_FIELDS = {"id", "username", "first_name", "last_name", "email", "phone", "telegram_id", "role", "created_at"}


@pytest.fixture(scope="module", params=backends())
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with SqlTarget.prepared(request.param, tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def server(target: SqlTarget, tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[ServerProcess]:
    with accounts_server(target, tmp_path_factory.mktemp("server"), redis_url) as process:
        yield process


async def test_register_answers_201_with_the_profile_and_a_30_day_token(server: ServerProcess) -> None:
    async with client(server) as http:
        response = await http.post("/api/auth/register", json=new_user(
            "reg_ok", email="Reg@Example.org", phone="+998 90 000 00 01", last_name="Ok"))
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"user", "token", "expires_at"} and set(body["user"]) == PROFILE_FIELDS
        assert body["user"]["email"] == "reg@example.org" and body["user"]["role"] == "user"
        me = await http.get("/api/me", headers=bearer(body["token"]))
    assert me.status_code == 200 and me.json() == body["user"]


@pytest.mark.parametrize(("field", "first", "second", "code"), [
    ("username", "dup_one", "dup_one", "username_taken"),
    ("email", "dup@example.org", "DUP@example.org", "email_taken"),
    ("phone", "+998 90 000 00 02", "998900000002", "phone_taken"),
])
async def test_register_answers_409_for_a_taken_field(
    server: ServerProcess, field: str, first: str, second: str, code: str
) -> None:
    async with client(server) as http:
        made = await http.post("/api/auth/register", json=new_user(f"own_{field}") | {field: first})
        assert made.status_code == 201, made.text
        response = await http.post("/api/auth/register", json=new_user(f"dup_{field}") | {field: second})
    assert response.status_code == 409 and response.json()["error"]["code"] == code


async def test_register_answers_422_invalid_with_details(server: ServerProcess) -> None:
    async with client(server) as http:
        response = await http.post("/api/auth/register", json={"username": "X", "password": "short"})
        not_json = await http.post("/api/auth/register", content=b"{nope", headers={"content-type": "application/json"})
    error = response.json()["error"]
    assert response.status_code == 422 and error["code"] == "invalid"
    assert {d["loc"][1] for d in error["details"]} == {"username", "password", "first_name"}
    assert not_json.status_code == 422 and not_json.json()["error"]["code"] == "invalid"


async def test_login_answers_token_csrf_and_sets_the_session_cookie(server: ServerProcess) -> None:
    await register(server, "log_in", email="login@example.org", phone="+998900000003")
    for login in ("log_in", "LOGIN@example.org", "998900000003"):
        async with client(server) as http:
            response = await http.post("/api/auth/login", json={"login": login, "password": "password 12"})
            assert response.status_code == 200, response.text
            body = response.json()
            assert {"token", "expires_at", "csrf"} <= set(body)
            cookie = response.headers["set-cookie"].lower()
            assert cookie.startswith("lq_session=") and "httponly" in cookie and "samesite=lax" in cookie
            assert "max-age=43200" in cookie and "path=/" in cookie
            by_cookie = await http.get("/api/me")  # the cookie alone signs the browser in
            assert by_cookie.status_code == 200 and by_cookie.json()["username"] == "log_in"
            assert (await http.get("/api/me", headers=bearer(body["token"]))).status_code == 200


async def test_unknown_login_and_wrong_password_answer_the_same(server: ServerProcess) -> None:
    await register(server, "same_answer")
    async with client(server) as http:
        wrong = await http.post("/api/auth/login", json={"login": "same_answer", "password": "wrong pass 1"})
        unknown = await http.post("/api/auth/login", json={"login": "nobody_here", "password": "wrong pass 1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() and wrong.json()["error"]["code"] == "bad_credentials"
    assert "set-cookie" not in wrong.headers


async def test_auth_endpoints_take_only_json_so_a_cross_site_form_cannot_sign_in(server: ServerProcess) -> None:
    await register(server, "form_victim")
    # What an HTML form on another site can send without a preflight: text/plain or urlencoded.
    forged = b'{"login": "form_victim", "password": "password 12", "x": "="}'
    async with client(server) as http:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            for path in ("/api/auth/login", "/api/auth/register", "/api/auth/reset"):
                response = await http.post(path, content=forged, headers={"content-type": content_type})
                assert response.status_code == 415, (path, content_type)
                assert response.json()["error"]["code"] == "unsupported_media_type"
                assert "set-cookie" not in response.headers
        json_type = {"content-type": "application/json; charset=utf-8"}
        ok = await http.post("/api/auth/login", content=forged, headers=json_type)
    assert ok.status_code == 200


async def test_a_cookie_write_needs_the_csrf_header(server: ServerProcess) -> None:
    await register(server, "csrf_user")
    async with client(server) as http:
        signed_in = await http.post("/api/auth/login", json={"login": "csrf_user", "password": "password 12"})
        csrf = signed_in.json()["csrf"]
        without = await http.patch("/api/me", json={"first_name": "Changed"})
        wrong = await http.patch("/api/me", json={"first_name": "Changed"}, headers={"X-CSRF-Token": "nope"})
        right = await http.patch("/api/me", json={"first_name": "Changed"}, headers={"X-CSRF-Token": csrf})
    assert without.status_code == wrong.status_code == 403 and without.json()["error"]["code"] == "csrf"
    assert right.status_code == 200 and right.json()["first_name"] == "Changed"


async def test_without_credentials_401_unauthorized(server: ServerProcess) -> None:
    async with client(server) as http:
        for method, path in [("GET", "/api/me"), ("PATCH", "/api/me"), ("DELETE", "/api/me"),
                             ("POST", "/api/me/password"), ("POST", "/api/me/telegram"), ("GET", "/api/me/export"),
                             ("POST", "/api/auth/logout")]:
            response = await http.request(method, path, headers=bearer("not-a-token"))
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized", path


async def test_logout_ends_that_token_or_session_at_once(server: ServerProcess) -> None:
    made = await register(server, "log_out")
    async with client(server) as http:
        csrf = (await http.post("/api/auth/login", json={"login": "log_out", "password": "password 12"})).json()["csrf"]
        session_cookie = http.cookies["lq_session"]
        out = await http.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        http.cookies.set("lq_session", session_cookie)  # a copy kept by an attacker: dead too
        assert (await http.get("/api/me")).status_code == 401
        assert (await http.post("/api/auth/logout", headers=bearer(made["token"]))).status_code == 204
        assert (await http.get("/api/me", headers=bearer(made["token"]))).status_code == 401


async def test_profile_patch_checks_like_register(server: ServerProcess) -> None:
    mine = await register(server, "patch_me")
    await register(server, "patch_other", email="other@example.org")
    async with client(server, headers=bearer(mine["token"])) as http:
        taken = await http.patch("/api/me", json={"email": "other@example.org"})
        bad = await http.patch("/api/me", json={"username": "No Spaces", "role": "admin"})
        ok = await http.patch("/api/me", json={"last_name": "Patched", "phone": "+998 90 000 00 09"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "email_taken"
    assert bad.status_code == 422 and {d["loc"][1] for d in bad.json()["error"]["details"]} == {"username", "role"}
    assert ok.status_code == 200 and (ok.json()["last_name"], ok.json()["phone"]) == ("Patched", "+998900000009")
    assert ok.json()["role"] == "user"


async def test_password_change_ends_every_other_session(server: ServerProcess) -> None:
    mine = await register(server, "pw_change")
    async with client(server) as http:
        other = (await http.post("/api/auth/login", json={"login": "pw_change", "password": "password 12"})).json()
    async with client(server, headers=bearer(mine["token"])) as http:
        wrong = await http.post("/api/me/password", json={"old": "nope nope 1", "new": "fresh pass 3"})
        weak = await http.post("/api/me/password", json={"old": "password 12", "new": "weak"})
        done = await http.post("/api/me/password", json={"old": "password 12", "new": "fresh pass 3"})
        still = await http.get("/api/me")
        ended = await http.get("/api/me", headers=bearer(other["token"]))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "wrong_password")
    assert (weak.status_code, weak.json()["error"]["code"]) == (422, "invalid")
    assert done.status_code == 204 and still.status_code == 200 and ended.status_code == 401


async def test_telegram_code_links_through_the_bot_hook_and_unlinks(server: ServerProcess, target: SqlTarget) -> None:
    mine = await register(server, "tg_user")
    async with client(server, headers=bearer(mine["token"])) as http:
        issued = await http.post("/api/me/telegram")
        assert issued.status_code == 200 and set(issued.json()) == {"code", "expires_at"}
        db = Database(target.url, schema=target.schema)
        try:  # what the bot does on `/link CODE`
            assert await telegram.link_telegram(db, issued.json()["code"], 90001)
        finally:
            await db.dispose()
        assert (await http.get("/api/me")).json()["telegram_id"] == 90001
        assert (await http.delete("/api/me/telegram")).status_code == 204
        assert (await http.get("/api/me")).json()["telegram_id"] is None


async def test_export_holds_the_profile_and_every_section(server: ServerProcess) -> None:
    mine = await register(server, "exporter", email="exporter@example.org")
    async with client(server, headers=bearer(mine["token"])) as http:
        response = await http.get("/api/me/export")
    body = response.json()
    assert response.status_code == 200 and body["profile"]["email"] == "exporter@example.org"
    assert {"profile", "games_hosted", "results", "attempts", "wallet_transactions", "tokens", "audit"} <= set(body)
    assert [entry["action"] for entry in body["audit"]] == ["register"]


async def test_delete_me_removes_the_account_and_ends_every_token(server: ServerProcess) -> None:
    mine = await register(server, "leaver", email="leaver@example.org")
    async with client(server) as http:
        other = (await http.post("/api/auth/login", json={"login": "leaver", "password": "password 12"})).json()
    async with client(server, headers=bearer(mine["token"])) as http:
        wrong = await http.request("DELETE", "/api/me", json={"password": "wrong one 1"})
        gone = await http.request("DELETE", "/api/me", json={"password": "password 12"})
        after = await http.get("/api/me")
        other_after = await http.get("/api/me", headers=bearer(other["token"]))
        again = await http.post("/api/auth/login", json={"login": "leaver@example.org", "password": "password 12"})
        reuse = await http.post("/api/auth/register", json=new_user("leaver"))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "wrong_password")
    assert gone.status_code == 204 and after.status_code == 401 and other_after.status_code == 401
    assert again.status_code == 401 and reuse.status_code == 201


async def test_google_sign_in_is_off_without_a_client_id(server: ServerProcess) -> None:
    async with client(server) as http:
        providers = await http.get("/api/auth/providers")
        start = await http.get("/auth/google")
        back = await http.get("/auth/google/callback", params={"code": "x", "state": "y"})
    assert providers.json() == {"google": False}
    assert start.status_code == back.status_code == 404 and start.json()["error"]["code"] == "google_off"
