"""The OIDC client's discovery cache (gameserver/platform/oidc.py) ages on the clock it is
given: on a `FakeClock`, the provider's discovery document and keys are kept for
`DISCOVERY_TTL_S` of that clock and fetched again after, against a real (fake) provider."""

from __future__ import annotations

from gameserver.clock import FakeClock
from gameserver.platform.oidc import DISCOVERY_TTL_S, OidcClient
from tests.fakes.oidc_provider import FakeOidcProvider


async def test_the_discovery_is_kept_for_its_ttl_on_the_clock() -> None:
    clock = FakeClock()
    with FakeOidcProvider() as provider:
        client = OidcClient(provider.client_id, provider.client_secret, provider.discovery_url, clock=clock)
        fetched = await client.discovery()
        assert fetched["jwks_uri"] == f"{provider.issuer}/jwks"
        await clock.advance(DISCOVERY_TTL_S)
        assert await client.discovery() is fetched  # kept: not older than its TTL on the clock
        await clock.advance(0.001)
        again = await client.discovery()
        assert again is not fetched and again == fetched  # fetched anew once it is older
        assert await client.discovery() is again
