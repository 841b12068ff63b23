"""An OpenID Connect client for "Sign in with Google": the authorization code flow with PKCE.

The provider's endpoints and keys come from its discovery document (cached for an hour). The
ID token is checked with joserfc (the JOSE library of the Authlib project): signature against
the provider's JWKS (RS256/ES256 only), issuer, audience (our client id), expiry and the nonce
this sign-in started with. The `state` ties the callback to the browser that started: it is
kept in Redis (one use, 10 minutes) and in a short-lived cookie of that browser, so a callback
URL handed to someone else signs nobody in (login CSRF).

joserfc and httpx are imported by the client's first discovery, not with this module (which
every server imports for its routes): a server without Google sign-in never loads them, and
they are ~0.25 s of CPU in a start.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from gameserver.clock import Clock, SystemClock
from persistence.accounts.external import Identity

if TYPE_CHECKING:
    import httpx
    from joserfc.jwk import KeySet

FLOW_TTL_S = 600
DISCOVERY_TTL_S = 3600
HTTP_TIMEOUT_S = 10.0
ALGORITHMS = ["RS256", "ES256"]


class OidcError(Exception):
    """The sign-in cannot complete (provider unreachable, token refused, state unknown)."""


@dataclass(frozen=True)
class Flow:
    """What one sign-in remembers between the redirect and the callback."""

    nonce: str
    code_verifier: str
    next_path: str

    def dumps(self) -> bytes:
        return orjson.dumps({"nonce": self.nonce, "verifier": self.code_verifier, "next": self.next_path})

    @classmethod
    def loads(cls, raw: bytes) -> Flow:
        data = orjson.loads(raw)
        return cls(str(data["nonce"]), str(data["verifier"]), str(data["next"]))


def new_flow(next_path: str) -> tuple[str, Flow]:
    """A fresh `state` and what the callback will need."""
    return secrets.token_urlsafe(32), Flow(secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path)


def s256(verifier: str) -> str:
    """RFC 7636 S256 code challenge."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    def __init__(self, client_id: str, client_secret: str, discovery_url: str, clock: Clock | None = None) -> None:
        self.clock = clock if clock is not None else SystemClock()  # the discovery cache's age
        self.client_id = client_id
        self.client_secret = client_secret
        self.discovery_url = discovery_url
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched_at = 0.0

    async def _get_json(self, client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        import httpx

        try:
            response = await client.get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcError(f"{url}: {error}") from error
        if not isinstance(data, dict):
            raise OidcError(f"{url}: not a JSON object")
        return data

    async def discovery(self, *, refresh: bool = False) -> dict[str, Any]:
        if refresh or self._discovery is None or self.clock.monotonic() - self._fetched_at > DISCOVERY_TTL_S:
            import httpx
            from joserfc.errors import JoseError
            from joserfc.jwk import KeySet

            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                discovery = await self._get_json(client, self.discovery_url)
                jwks = await self._get_json(client, str(discovery.get("jwks_uri", "")))
            try:
                self._keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as error:
                raise OidcError(f"the provider's keys cannot be read: {error}") from error
            self._discovery = discovery
            self._fetched_at = self.clock.monotonic()
        return self._discovery

    async def authorization_url(self, redirect_uri: str, state: str, flow: Flow) -> str:
        endpoint = str((await self.discovery()).get("authorization_endpoint", ""))
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": "openid email profile", "state": state, "nonce": flow.nonce,
            "code_challenge": s256(flow.code_verifier), "code_challenge_method": "S256",
        })
        return f"{endpoint}?{query}"

    async def identity(self, code: str, redirect_uri: str, flow: Flow) -> Identity:
        """Exchange the code and check the ID token; the person it names."""
        discovery = await self.discovery()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self.client_id, "client_secret": self.client_secret,
                "code_verifier": flow.code_verifier}
        import httpx

        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
            try:
                response = await client.post(str(discovery.get("token_endpoint", "")), data=form)
                answer = response.json()
            except (httpx.HTTPError, ValueError) as error:
                raise OidcError(f"token endpoint: {error}") from error
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if response.status_code != 200 or not isinstance(id_token, str):
            raise OidcError(f"the token endpoint refused the code ({response.status_code})")
        claims = self._checked_claims(id_token, str(discovery.get("issuer", "")), flow.nonce)
        return Identity(
            subject=str(claims["sub"]), email=_text(claims.get("email")),
            email_verified=claims.get("email_verified") is True, given_name=_text(claims.get("given_name")),
            family_name=_text(claims.get("family_name")), name=_text(claims.get("name")),
        )

    def _checked_claims(self, id_token: str, issuer: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        assert self._keys is not None
        try:
            token = jwt.decode(id_token, self._keys, algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": issuer}, aud={"essential": True, "value": self.client_id},
                sub={"essential": True}, exp={"essential": True}, nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as error:
            raise OidcError(f"the ID token is not valid: {error}") from error
        return dict(token.claims)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
