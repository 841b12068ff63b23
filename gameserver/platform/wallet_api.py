"""The wallet's HTTP API (PLATFORM.md "Wallet" and "Conventions"): balances and history,
top-ups, transfers and withdrawals for the signed-in user; withdrawals, ledgers and bonuses
for admins (admin routes in wallet_admin_api.py).

Every POST that moves money runs through `persistence.wallet.idempotency.run_once` under the
caller's `Idempotency-Key`. Checks happen in this order: credentials (401/403), the key (400),
the body (422, not stored under the key), then the movement (its answer, refusals included,
is stored and replayed for the same key and body).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.http import (
    PlatformError,
    database_of,
    endpoint,
    invalid,
    json_body,
    live_of,
    page_of,
    require_user,
)
from gameserver.settings import Settings
from persistence.wallet import hooks, queries, service
from persistence.wallet.errors import WalletError
from persistence.wallet.idempotency import Outcome, check_key, error_body, fingerprint, run_once
from persistence.wallet.money import Rates, WalletConfig
from persistence.wallet.providers import PaymentProvider, provider_named

REPLAYED_HEADER = "Idempotent-Replayed"


def wallet_config(settings: Settings) -> WalletConfig:
    return WalletConfig(
        rates=Rates(settings.wallet_tax_to_bonus, settings.wallet_tax_to_main, settings.wallet_tax_withdraw),
        welcome_bonus=settings.wallet_welcome_bonus,
        referral_bonus=settings.wallet_referral_bonus,
        min_amount=settings.wallet_min_amount,
        max_amount=settings.wallet_max_amount,
        otp_ttl_s=settings.wallet_otp_ttl_s,
    )


def config_of(request: Request) -> WalletConfig:
    live = live_of(request)
    config = live.extras.get("wallet_config")
    if config is None:
        config = live.extras["wallet_config"] = wallet_config(live.settings)
    return config


def provider_of(request: Request) -> PaymentProvider:
    live = live_of(request)
    provider = live.extras.get("wallet_provider")
    if provider is None:
        provider = live.extras["wallet_provider"] = provider_named(
            live.settings.wallet_provider, live.settings.wallet_webhook_secret
        )
    return provider


Handler = Callable[[Request], Awaitable[Response]]


def wallet_endpoint(function: Handler) -> Handler:
    """`endpoint`, with the wallet's refusals answered as the platform's JSON errors (their
    facts, such as `needed` and `available`, as fields of the error object)."""

    @functools.wraps(function)
    async def wrapped(request: Request) -> Response:
        try:
            return await function(request)
        except WalletError as refusal:
            return ORJSONResponse(error_body(refusal), status_code=refusal.status)

    return endpoint(wrapped)  # type: ignore[no-any-return]


async def money_post(
    request: Request,
    user_id: int,
    body: dict[str, Any],
    operation: Callable[[AsyncSession], Awaitable[Outcome]],
    *,
    key_required: bool = True,
) -> Response:
    """Run `operation` once under the request's Idempotency-Key and answer its outcome."""
    raw_key = request.headers.get("idempotency-key")
    db = database_of(request)
    if raw_key is None and not key_required:
        async with db.transaction() as session:
            outcome = await operation(session)
    else:
        key = check_key(raw_key)
        outcome = await run_once(db, user_id, key, fingerprint(request.method, request.url.path, body), operation)
    response = ORJSONResponse(outcome.body, status_code=outcome.status)
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


def path_id(request: Request, name: str, what: str) -> int:
    raw = str(request.path_params[name])
    if not raw.isdigit() or len(raw) > 18:
        raise PlatformError(404, "not_found", f"no such {what}")
    return int(raw)


async def body_with_key(request: Request) -> dict[str, Any]:
    """The body, after the key's presence is checked (400 comes before 422)."""
    check_key(request.headers.get("idempotency-key"))
    return await json_body(request)


@wallet_endpoint
async def wallet(request: Request) -> Response:
    principal = await require_user(request)
    config = config_of(request)
    async with database_of(request).session() as session:
        balances = await queries.balances(session, principal.user_id)
    return ORJSONResponse(
        {
            **balances,
            "rates": config.rates.public(),
            "currency": "UZS",
            "limits": {"min_amount": config.min_amount, "max_amount": config.max_amount},
            "provider": provider_of(request).name,
        }
    )


@wallet_endpoint
async def transactions(request: Request) -> Response:
    principal = await require_user(request)
    page = page_of(request)
    async with database_of(request).session() as session:
        items, next_cursor = await queries.history(session, principal.user_id, page.limit, page.cursor)
    return ORJSONResponse({"items": items, "next_cursor": str(next_cursor) if next_cursor is not None else None})


@wallet_endpoint
async def start_topup(request: Request) -> Response:
    principal = await require_user(request)
    body = await json_body(request)
    config, provider = config_of(request), provider_of(request)
    amount = service.check_amount(body.get("amount"), config)

    async def operation(session: AsyncSession) -> Outcome:
        topup, otp = await service.start_topup(session, provider, config, principal.user_id, amount)
        answer = queries.topup_public(topup)
        if otp is not None:
            answer["sandbox_otp"] = otp  # the sandbox only: the code a real provider would send by SMS
        return Outcome(201, answer)

    return await money_post(request, principal.user_id, body, operation, key_required=False)


@wallet_endpoint
async def confirm_topup(request: Request) -> Response:
    principal = await require_user(request)
    topup_id = path_id(request, "topup_id", "top-up")
    body = await body_with_key(request)
    otp = body.get("otp")
    if not isinstance(otp, str) or not 1 <= len(otp) <= 12:
        raise invalid(
            "otp must be the code that was sent",
            [{"loc": ["body", "otp"], "msg": "a string of 1–12 characters", "type": "string"}],
        )
    config, provider = config_of(request), provider_of(request)

    async def operation(session: AsyncSession) -> Outcome:
        confirmed = await service.confirm_topup(session, provider, config, principal.user_id, topup_id, otp)
        if confirmed.refusal is not None:  # a wrong code: answered as an error, its count committed
            return Outcome(confirmed.refusal.status, error_body(confirmed.refusal))
        answer = queries.topup_public(confirmed.topup) | {"balance": await queries.balances(session, principal.user_id)}
        return Outcome(200, answer)

    return await money_post(request, principal.user_id, body, operation)


@wallet_endpoint
async def transfer(request: Request) -> Response:
    principal = await require_user(request)
    body = await body_with_key(request)
    config = config_of(request)
    amount = service.check_amount(body.get("amount"), config)
    to = body.get("to")
    if to not in ("bonus", "main"):
        raise invalid("to must be 'bonus' or 'main'", [{"loc": ["body", "to"], "msg": "bonus or main", "type": "enum"}])

    async def operation(session: AsyncSession) -> Outcome:
        moved = await service.transfer(session, config, principal.user_id, amount, str(to))
        return Outcome(201, {**moved, "to": to, "balance": await queries.balances(session, principal.user_id)})

    return await money_post(request, principal.user_id, body, operation)


@wallet_endpoint
async def withdraw(request: Request) -> Response:
    principal = await require_user(request)
    body = await body_with_key(request)
    config, provider = config_of(request), provider_of(request)
    amount = service.check_amount(body.get("amount"), config)
    card = body.get("card")

    async def operation(session: AsyncSession) -> Outcome:
        withdrawal = await service.request_withdrawal(session, provider, config, principal.user_id, amount, card)
        return Outcome(
            201, queries.withdrawal_public(withdrawal) | {"balance": await queries.balances(session, principal.user_id)}
        )

    return await money_post(request, principal.user_id, body, operation)


@wallet_endpoint
async def my_withdrawals(request: Request) -> Response:
    principal = await require_user(request)
    page = page_of(request)
    async with database_of(request).session() as session:
        items, next_cursor = await queries.withdrawals(
            session, status=None, user_id=principal.user_id, limit=page.limit, before_id=page.cursor
        )
    return ORJSONResponse({"items": items, "next_cursor": str(next_cursor) if next_cursor is not None else None})


def wallet_routes() -> list[Route]:
    # Registration and deletion move bonus and forfeit balances through account hooks; the
    # amounts are the settings of this process.
    hooks.install(wallet_config(Settings()))
    from gameserver.platform.wallet_admin_api import wallet_admin_routes
    from gameserver.platform.wallet_openapi import describe

    describe()  # this area's part of /openapi.json

    return [
        Route("/api/wallet", wallet, methods=["GET"]),
        Route("/api/wallet/transactions", transactions, methods=["GET"]),
        Route("/api/wallet/topups", start_topup, methods=["POST"]),
        Route("/api/wallet/topups/{topup_id}/confirm", confirm_topup, methods=["POST"]),
        Route("/api/wallet/transfers", transfer, methods=["POST"]),
        Route("/api/wallet/withdrawals", withdraw, methods=["POST"]),
        Route("/api/wallet/withdrawals", my_withdrawals, methods=["GET"]),
        *wallet_admin_routes(),
    ]
