"""A stand-in OpenID Connect provider for tests of "Sign in with Google": discovery, the
authorization endpoint (it signs in whoever the test names, at once), the token endpoint
(client secret, one-use codes, PKCE S256 checked) and the JWKS. Served by uvicorn on
127.0.0.1 in a thread of its own.

Knobs for refusals: `audience` (what the ID token's `aud` says), `sign_with_other_key`.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gameserver.platform.oidc import s256


@dataclass
class Person:
    sub: str
    email: str | None = None
    email_verified: bool = True
    given_name: str | None = None
    family_name: str | None = None


@dataclass
class FakeOidcProvider:
    client_id: str = "livequiz-test-client"
    client_secret: str = "test-secret-" + secrets.token_hex(8)
    person: Person = field(default_factory=lambda: Person("1001"))
    audience: str | None = None  # None: the client id
    sign_with_other_key: bool = False
    port: int = 0
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"})
        self.app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
            Route("/jwks", self.jwks),
        ])

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"],
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id or q.get("response_type") != "code" \
                or q.get("code_challenge_method") != "S256" or "openid" not in q.get("scope", "").split():
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"redirect_uri": q["redirect_uri"], "challenge": q["code_challenge"],
                            "nonce": q.get("nonce"), "person": self.person}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}",
                                status_code=302)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))  # urlencoded, as RFC 6749 says
        self.token_requests.append(form)
        grant = self.codes.pop(form.get("code", ""), None)  # one use
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret \
                or grant is None or form.get("redirect_uri") != grant["redirect_uri"] \
                or s256(form.get("code_verifier", "")) != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        person: Person = grant["person"]
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience or self.client_id, "sub": person.sub, "iat": now,
                  "exp": now + 300, "nonce": grant["nonce"], "email_verified": person.email_verified}
        for name in ("email", "given_name", "family_name"):
            if getattr(person, name) is not None:
                claims[name] = getattr(person, name)
        key = self.other_key if self.sign_with_other_key else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, key)
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": id_token})

    def __enter__(self) -> FakeOidcProvider:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake OIDC provider did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
