"""Payment providers: how money enters (card top-ups with an SMS code) and leaves (payouts).

`PaymentProvider` is what the wallet calls; `SandboxProvider`, the default, simulates the
card gateway locally: it "sends" the one-time code by returning it (the API shows it as
`sandbox_otp`, plainly marked) and keeps only its digest. A real provider (Atmos) implements
the same methods against its API and must verify every webhook it receives
(`verify_webhook`): the sandbox shows the shape, an HMAC-SHA256 of the raw body under a shared
secret, compared in constant time.

Card numbers are never stored (000 §5): `tokenize_card` returns the provider's token and a mask.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True)
class StartedTopup:
    provider_ref: str
    otp_digest: str | None  # kept by us only when the provider is the sandbox
    sandbox_otp: str | None  # returned to the client only by the sandbox


@dataclass(frozen=True)
class CardRef:
    token: str
    mask: str  # "•••• 1234"


@dataclass(frozen=True)
class WebhookEvent:
    kind: str  # e.g. "topup.confirmed"
    provider_ref: str
    data: dict[str, Any]


class WebhookRejected(Exception):
    """A webhook whose signature or body does not verify: answer 401 and act on nothing."""


class PaymentProvider(Protocol):
    name: str

    async def start_topup(self, topup_id: int, amount: int) -> StartedTopup: ...

    async def confirm_topup(self, provider_ref: str, otp: str, otp_digest: str | None) -> bool:
        """True when the code is right (the card is charged); False for a wrong code."""
        ...

    async def tokenize_card(self, number: str) -> CardRef: ...

    async def payout(self, withdrawal_id: int, amount: int, card_token: str) -> str:
        """Send `amount` to the card; the provider's reference of the payout."""
        ...

    def verify_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent: ...


def otp_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def luhn_ok(number: str) -> bool:
    digits = [int(ch) for ch in number]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_number_ok(number: str) -> bool:
    return number.isascii() and number.isdigit() and 12 <= len(number) <= 19 and luhn_ok(number)


SIGNATURE_HEADER = "x-sandbox-signature"


class SandboxProvider:
    """The local card gateway: every code it sends is returned to the caller."""

    name = "sandbox"

    def __init__(self, webhook_secret: str = "") -> None:
        self.webhook_secret = webhook_secret or secrets.token_hex(32)

    async def start_topup(self, topup_id: int, amount: int) -> StartedTopup:
        code = f"{secrets.randbelow(1_000_000):06d}"
        return StartedTopup(
            provider_ref=f"sandbox-topup-{topup_id}-{secrets.token_hex(8)}",
            otp_digest=otp_digest(code),
            sandbox_otp=code,
        )

    async def confirm_topup(self, provider_ref: str, otp: str, otp_digest_: str | None) -> bool:
        if otp_digest_ is None:
            return False
        return hmac.compare_digest(otp_digest(otp), otp_digest_)

    async def tokenize_card(self, number: str) -> CardRef:
        return CardRef(token="sandbox-card-" + secrets.token_hex(12), mask="•••• " + number[-4:])

    async def payout(self, withdrawal_id: int, amount: int, card_token: str) -> str:
        return f"sandbox-payout-{withdrawal_id}-{secrets.token_hex(8)}"

    def sign(self, body: bytes) -> str:
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    def verify_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        presented = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER, "")
        if not presented or not hmac.compare_digest(presented, self.sign(body)):
            raise WebhookRejected("bad signature")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise WebhookRejected("body is not JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or not isinstance(data.get("ref"), str):
            raise WebhookRejected("body lacks kind and ref")
        return WebhookEvent(kind=data["kind"], provider_ref=data["ref"], data=data)


def provider_named(name: str, webhook_secret: str = "") -> PaymentProvider:
    if name == "sandbox":
        return SandboxProvider(webhook_secret)
    raise ValueError(f"unknown payment provider {name!r} (only 'sandbox' ships today)")
