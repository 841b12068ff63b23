"""OpenAPI descriptions of the wallet endpoints (PLATFORM.md "Wallet"). The handlers build
plain dicts; these models only describe them (tests/integration/test_wallet_openapi.py checks
that the answers agree)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gameserver.openapi import Operation, register_operation

SOM = "whole so'm (UZS), never negative"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Balances(_Open):
    main: int = Field(description="topped up by card; withdrawable")
    bonus: int = Field(description="bonuses and transfers from earnings; never withdrawable")
    earnings: int = Field(description="what the caller's paid exams earned")
    held: int = Field(description="main money reserved by pending withdrawals")


class Rates(_Open):
    to_bonus: int = Field(description="tax in percent on earnings → bonus")
    to_main: int = Field(description="tax in percent on earnings → main")
    withdraw: int = Field(description="tax in percent on a withdrawal to a card")


class Wallet(Balances):
    rates: Rates
    currency: Literal["UZS"]
    limits: dict[str, int] = Field(description="`min_amount` and `max_amount` of one movement")
    provider: str


class WalletItem(_Open):
    id: int
    kind: str = Field(
        description="welcome_bonus, referral_bonus, admin_bonus, topup, payment, transfer_to_bonus, "
        "transfer_to_main, withdrawal, withdrawal_approved, withdrawal_rejected, withdrawal_cancelled, "
        "forfeit"
    )
    amount: int = Field(description="the gross amount, " + SOM)
    tax: int
    changes: dict[str, int] = Field(description="the signed change of each of the caller's balances")
    balance: Balances = Field(description="all four balances right after this transaction")
    ref: str | None = Field(description="what it was for: `exam:7`, `topup:3`, `withdrawal:9`")
    memo: str | None
    created_at: str = Field(description="ISO 8601 UTC")


class WalletPage(_Open):
    items: list[WalletItem]
    next_cursor: str | None


class AmountIn(_Open):
    amount: int = Field(description=SOM)


class TopupOut(_Open):
    id: int
    status: Literal["otp_sent", "confirmed", "expired"]
    amount: int
    attempts: int
    created_at: str
    expires_at: str
    transaction_id: int | None
    sandbox_otp: str | None = Field(None, description="the sandbox provider only: the code a real one sends by SMS")


class OtpIn(_Open):
    otp: str


class Confirmed(TopupOut):
    balance: Balances


class TransferIn(_Open):
    amount: int = Field(description=SOM)
    to: Literal["bonus", "main"]


class TransferOut(_Open):
    transaction_id: int
    amount: int
    tax: int
    credited: int
    to: Literal["bonus", "main"]
    balance: Balances


class WithdrawIn(_Open):
    amount: int = Field(description=SOM + "; from main only")
    card: str = Field(description="the card number (12–19 digits, Luhn); only a mask and the provider's token are kept")


class WithdrawalOut(_Open):
    id: int
    user_id: int
    status: Literal["pending", "approved", "rejected", "cancelled"]
    amount: int
    tax: int
    payout: int = Field(description="amount − tax, what reaches the card")
    card: str = Field(description="the card's mask, e.g. •••• 1111")
    created_at: str
    decided_at: str | None


class WithdrawalHeld(WithdrawalOut):
    balance: Balances


class WithdrawalPage(_Open):
    items: list[WithdrawalOut]
    next_cursor: str | None


class BonusIn(_Open):
    amount: int = Field(description=SOM)
    reason: str = Field(description="1–200 characters")


class BonusOut(_Open):
    transaction_id: int
    user_id: int
    amount: int
    balance: Balances


class UserWallet(Balances):
    user_id: int
    items: list[WalletItem]
    next_cursor: str | None


_WALLET, _ADMIN = ("wallet",), ("admin",)
_SIGNED_IN = {401: ["unauthorized"], 429: ["rate_limited"]}
_AUTH: dict[str, Any] = {"security": [{"apiToken": []}]}
_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "1–255 printable characters; the same key and body answer the first response again",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_OPTIONAL_KEY = _KEY | {"required": False}
_PAGING = [
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
]
_ID = {"type": "string", "pattern": "^[0-9]+$"}
_MOVES = {
    **_SIGNED_IN,
    400: ["idempotency_key_required", "invalid_idempotency_key"],
    403: ["csrf"],
    409: ["idempotency_mismatch", "user_deleted"],
    413: ["too_large"],
    422: ["invalid"],
}
_ADMIN_MOVES = {**_MOVES, 403: ["csrf", "forbidden"], 404: ["not_found"]}
_NO_BODY = {"requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}}

OPERATIONS = [
    Operation(
        "GET",
        "/api/wallet",
        "wallet",
        "Balances and tax rates",
        responses={200: Wallet},
        tags=_WALLET,
        errors=_SIGNED_IN,
        extra=_AUTH,
    ),
    Operation(
        "GET",
        "/api/wallet/transactions",
        "walletTransactions",
        "The caller's wallet history, newest first",
        responses={200: WalletPage},
        tags=_WALLET,
        errors={**_SIGNED_IN, 422: ["invalid"]},
        extra=_AUTH | {"parameters": _PAGING},
    ),
    Operation(
        "POST",
        "/api/wallet/topups",
        "startTopup",
        "Top up main by card: the provider sends a code",
        responses={201: TopupOut},
        request=AmountIn,
        tags=_WALLET,
        errors=_MOVES,
        extra=_AUTH | {"parameters": [_OPTIONAL_KEY]},
        description="Moves nothing yet; an Idempotency-Key is taken but not required.",
    ),
    Operation(
        "POST",
        "/api/wallet/topups/{topup_id}/confirm",
        "confirmTopup",
        "Confirm a top-up with its code",
        responses={200: Confirmed},
        request=OtpIn,
        tags=_WALLET,
        parameters={"topup_id": _ID},
        errors={**_MOVES, 404: ["not_found"], 410: ["expired"], 422: ["invalid", "bad_otp"]},
        extra=_AUTH | {"parameters": [{"name": "topup_id", "in": "path", "required": True, "schema": _ID}, _KEY]},
        description="Main is credited once. A wrong code is `422 bad_otp` with `attempts_left`; the third "
        "wrong code, or 5 minutes, expire the top-up (`410 expired`).",
    ),
    Operation(
        "POST",
        "/api/wallet/transfers",
        "transfer",
        "Transfer earnings to bonus or main",
        responses={201: TransferOut},
        request=TransferIn,
        tags=_WALLET,
        errors={**_MOVES, 402: ["insufficient_funds"]},
        extra=_AUTH | {"parameters": [_KEY]},
        description="Tax = round_half_up(amount × rate / 100): 10 % to bonus, 20 % to main (the rates of "
        "`GET /api/wallet`).",
    ),
    Operation(
        "POST",
        "/api/wallet/withdrawals",
        "withdraw",
        "Withdraw main to a card",
        responses={201: WithdrawalHeld},
        request=WithdrawIn,
        tags=_WALLET,
        errors={**_MOVES, 402: ["insufficient_funds"]},
        extra=_AUTH | {"parameters": [_KEY]},
        description="The amount is held at once (`held`); 5 % tax; an admin approves (pays amount − tax) "
        "or rejects (the hold returns).",
    ),
    Operation(
        "GET",
        "/api/wallet/withdrawals",
        "myWithdrawals",
        "The caller's withdrawals",
        responses={200: WithdrawalPage},
        tags=_WALLET,
        errors={**_SIGNED_IN, 422: ["invalid"]},
        extra=_AUTH | {"parameters": _PAGING},
    ),
    Operation(
        "GET",
        "/api/admin/withdrawals",
        "adminWithdrawals",
        "Withdrawals by status (admins)",
        responses={200: WithdrawalPage},
        tags=_ADMIN,
        errors={**_SIGNED_IN, 403: ["forbidden"], 422: ["invalid"]},
        extra=_AUTH
        | {
            "parameters": [
                *_PAGING,
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["pending", "approved", "rejected", "cancelled", "all"]},
                },
            ]
        },
    ),
    *(
        Operation(
            "POST",
            f"/api/admin/withdrawals/{{withdrawal_id}}/{action}",
            f"{action}Withdrawal",
            f"{action.title()} a pending withdrawal (admins)",
            responses={200: WithdrawalOut},
            tags=_ADMIN,
            errors={**_ADMIN_MOVES, 409: ["already_decided", "idempotency_mismatch"]},
            extra=_AUTH
            | _NO_BODY
            | {"parameters": [{"name": "withdrawal_id", "in": "path", "required": True, "schema": _ID}, _KEY]},
            description="Each withdrawal is decided once; a second decision is `409 already_decided`.",
        )
        for action in ("approve", "reject")
    ),
    Operation(
        "POST",
        "/api/admin/users/{user_id}/bonus",
        "grantBonus",
        "Credit a user's bonus (admins)",
        responses={201: BonusOut},
        request=BonusIn,
        tags=_ADMIN,
        errors=_ADMIN_MOVES,
        extra=_AUTH | {"parameters": [{"name": "user_id", "in": "path", "required": True, "schema": _ID}, _KEY]},
    ),
    Operation(
        "GET",
        "/api/admin/users/{user_id}/wallet",
        "userWallet",
        "A user's balances and ledger (admins)",
        responses={200: UserWallet},
        tags=_ADMIN,
        errors={**_SIGNED_IN, 403: ["forbidden"], 404: ["not_found"], 422: ["invalid"]},
        extra=_AUTH | {"parameters": [{"name": "user_id", "in": "path", "required": True, "schema": _ID}, *_PAGING]},
    ),
]


def describe() -> None:
    for operation in OPERATIONS:
        register_operation(operation)
