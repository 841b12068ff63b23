""""Sign in with Google" against a real server process and a stand-in OpenID Connect provider,
on SQLite and PostgreSQL: the code flow signs the browser in (session cookie, CSRF), the same
Google account finds the same user, an email held by another account is never taken over,
and a callback that is replayed, forged, for another audience or wrongly signed signs nobody in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.accounts_support import accounts_server, backends, client, register
from tests.fakes.oidc_provider import FakeOidcProvider, Person
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

FAILED = "/account?google=failed#signin"


@pytest.fixture(scope="module", params=backends())
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with SqlTarget.prepared(request.param, tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def provider(target: SqlTarget) -> Iterator[FakeOidcProvider]:
    with FakeOidcProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(target: SqlTarget, provider: FakeOidcProvider, tmp_path_factory: pytest.TempPathFactory,
           redis_url: str) -> Iterator[ServerProcess]:
    env = {"LIVEQUIZ_GOOGLE_CLIENT_ID": provider.client_id, "LIVEQUIZ_GOOGLE_CLIENT_SECRET": provider.client_secret,
           "LIVEQUIZ_GOOGLE_DISCOVERY_URL": provider.discovery_url}
    with accounts_server(target, tmp_path_factory.mktemp("server"), redis_url, env) as process:
        yield process


@pytest.fixture(autouse=True)
def _honest_provider(provider: FakeOidcProvider) -> Iterator[None]:
    yield
    provider.audience = None
    provider.sign_with_other_key = False


async def to_provider(http: httpx.AsyncClient, next_path: str = "/host") -> str:
    """Start a sign-in; the provider's answer: the callback URL it sends the browser to."""
    started = await http.get("/auth/google", params={"next": next_path})
    assert started.status_code == 302, started.text
    assert "lq_oidc" in started.headers["set-cookie"] and "httponly" in started.headers["set-cookie"].lower()
    authorize = urlsplit(started.headers["location"])
    query = parse_qs(authorize.query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    at_provider = await http.get(started.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    return at_provider.headers["location"]


async def sign_in(
    server: ServerProcess, person: Person, provider: FakeOidcProvider,
) -> tuple[httpx.Response, dict[str, Any]]:
    provider.person = person
    async with client(server) as http:
        landed = await http.get(await to_provider(http))
        me = await http.get("/api/me")
        return landed, me.json() if me.status_code == 200 else {"status": me.status_code}


async def test_providers_says_google_is_on(server: ServerProcess) -> None:
    async with client(server) as http:
        assert (await http.get("/api/auth/providers")).json() == {"google": True}


async def test_google_sign_in_makes_an_account_once_and_signs_the_browser_in(
    server: ServerProcess, provider: FakeOidcProvider,
) -> None:
    provider.person = Person("g-100", email="Gulnora.K@example.org", given_name="Gulnora", family_name="K")
    async with client(server) as http:
        landed = await http.get(await to_provider(http, "/host"))
        assert landed.status_code == 302 and landed.headers["location"] == "/host"
        cookies = landed.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("lq_session="))
        assert "httponly" in session.lower() and "samesite=lax" in session.lower()
        csrf = http.cookies["lq_csrf_once"]
        me = (await http.get("/api/me")).json()
        assert (me["username"], me["email"], me["first_name"], me["last_name"]) == (
            "gulnora_k", "gulnora.k@example.org", "Gulnora", "K")
        patched = await http.patch("/api/me", json={"last_name": "Karimova"}, headers={"X-CSRF-Token": csrf})
        assert patched.status_code == 200
        exported = (await http.get("/api/me/export")).json()
        assert exported["profile"]["google_sub"] == "g-100"
        assert [e["details"].get("via") for e in exported["audit"] if e["action"] in ("register", "login")] == [
            "google", "google"]
    _, again = await sign_in(server, Person("g-100", email="Gulnora.K@example.org"), provider)
    assert again["id"] == me["id"] and again["last_name"] == "Karimova"


async def test_an_email_held_by_another_account_is_not_taken_over(
    server: ServerProcess, provider: FakeOidcProvider,
) -> None:
    owner = await register(server, "mail_owner", email="shared@example.org")
    _, me = await sign_in(server, Person("g-200", email="shared@example.org", given_name="Other"), provider)
    assert me["id"] != owner["user"]["id"] and me["email"] is None and me["first_name"] == "Other"
    _, unverified = await sign_in(server, Person("g-201", email="free@example.org", email_verified=False), provider)
    assert unverified["email"] is None


async def test_a_callback_in_another_browser_or_used_twice_signs_nobody_in(
    server: ServerProcess, provider: FakeOidcProvider,
) -> None:
    provider.person = Person("g-300", email="victim@example.org")
    async with client(server) as attacker:
        callback = await to_provider(attacker)
    async with client(server) as victim:  # the link handed to someone else: no state cookie
        landed = await victim.get(callback)
        assert landed.headers["location"] == FAILED and "lq_session" not in victim.cookies
    async with client(server) as http:
        callback = await to_provider(http)
        assert (await http.get(callback)).headers["location"] == "/host"
        replay = await http.get(callback)
        assert replay.headers["location"] == FAILED


@pytest.mark.parametrize("fault", ["audience", "key"])
async def test_an_id_token_for_another_client_or_wrongly_signed_is_refused(
    server: ServerProcess, provider: FakeOidcProvider, fault: str,
) -> None:
    if fault == "audience":
        provider.audience = "someone-else"
    else:
        provider.sign_with_other_key = True
    landed, me = await sign_in(server, Person(f"g-400-{fault}", email=f"{fault}@example.org"), provider)
    assert landed.headers["location"] == FAILED and me == {"status": 401}


async def test_next_must_be_a_path_on_this_site(server: ServerProcess, provider: FakeOidcProvider) -> None:
    provider.person = Person("g-500")
    for hostile in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        async with client(server) as http:
            landed = await http.get(await to_provider(http, hostile))
            assert landed.headers["location"] == "/account#profile", hostile
