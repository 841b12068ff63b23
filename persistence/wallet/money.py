"""Money arithmetic: integer so'm only, and the one rounding rule (PLATFORM.md "Wallet")."""

from __future__ import annotations

from dataclasses import dataclass

from persistence.wallet.errors import WalletError


def tax_of(amount: int, rate_percent: int) -> int:
    """`round_half_up(amount × rate / 100)` in integers: no float ever touches money.
    (a·r + 50) // 100 rounds halves up for the non-negative values we allow."""
    if amount < 0 or rate_percent < 0:
        raise ValueError("amounts and rates are never negative")
    return (amount * rate_percent + 50) // 100


@dataclass(frozen=True)
class Rates:
    """Tax rates in whole percent (settings; shown by GET /api/wallet)."""

    to_bonus: int = 10
    to_main: int = 20
    withdraw: int = 5

    def public(self) -> dict[str, int]:
        return {"to_bonus": self.to_bonus, "to_main": self.to_main, "withdraw": self.withdraw}


@dataclass(frozen=True)
class WalletConfig:
    """What the wallet's rules depend on, taken from the settings by the server."""

    rates: Rates = Rates()
    welcome_bonus: int = 5_000
    referral_bonus: int = 5_000
    min_amount: int = 1_000  # smallest top-up, transfer or withdrawal
    max_amount: int = 100_000_000  # largest single top-up, transfer, withdrawal or bonus
    otp_ttl_s: int = 300
    otp_attempts: int = 3


def check_amount(value: object, config: WalletConfig, field: str = "amount") -> int:
    """A whole number of so'm within the configured bounds, else 422 invalid."""
    if not isinstance(value, int) or isinstance(value, bool) or not config.min_amount <= value <= config.max_amount:
        raise WalletError(
            422,
            "invalid",
            f"{field} must be a whole number of so'm, {config.min_amount}–{config.max_amount}",
            [
                {
                    "loc": ["body", field],
                    "msg": f"a whole number {config.min_amount}–{config.max_amount}",
                    "type": "amount",
                }
            ],
        )
    return value
