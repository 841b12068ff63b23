"""Admin routes of the wallet: pending withdrawals and their decisions, a user's wallet and
ledger, and granting a bonus. Admins only (`403 forbidden` otherwise); each decision and bonus
moves money under an Idempotency-Key and is recorded in the audit log in the same transaction.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.http import client_ip, database_of, invalid, page_of, require_admin
from gameserver.platform.wallet_api import body_with_key, config_of, money_post, path_id, provider_of, wallet_endpoint
from persistence.accounts import audit
from persistence.wallet import queries, service
from persistence.wallet.idempotency import Outcome

STATUSES = ("pending", "approved", "rejected", "cancelled")


@wallet_endpoint
async def list_withdrawals(request: Request) -> Response:
    await require_admin(request)
    page = page_of(request)
    status = request.query_params.get("status", "pending")
    if status not in (*STATUSES, "all"):
        raise invalid(
            "status must be pending, approved, rejected, cancelled or all",
            [{"loc": ["query", "status"], "msg": "unknown status", "type": "enum"}],
        )
    async with database_of(request).session() as session:
        items, next_cursor = await queries.withdrawals(
            session, status=None if status == "all" else status, user_id=None, limit=page.limit, before_id=page.cursor
        )
    return ORJSONResponse({"items": items, "next_cursor": str(next_cursor) if next_cursor is not None else None})


async def _decide(request: Request, approve: bool) -> Response:
    principal = await require_admin(request)
    withdrawal_id = path_id(request, "withdrawal_id", "withdrawal")
    body = await body_with_key(request)
    provider = provider_of(request)

    async def operation(session: AsyncSession) -> Outcome:
        decided = await service.decide_withdrawal(session, provider, principal.user_id, withdrawal_id, approve)
        await audit.record(
            session,
            "wallet.withdrawal." + decided.status,
            actor_id=principal.user_id,
            target_user_id=decided.user_id,
            ip=client_ip(request),
            details={"withdrawal": withdrawal_id, "amount": decided.amount},
        )
        return Outcome(200, queries.withdrawal_public(decided))

    return await money_post(request, principal.user_id, body, operation)


@wallet_endpoint
async def approve(request: Request) -> Response:
    return await _decide(request, approve=True)


@wallet_endpoint
async def reject(request: Request) -> Response:
    return await _decide(request, approve=False)


@wallet_endpoint
async def grant_bonus(request: Request) -> Response:
    principal = await require_admin(request)
    user_id = path_id(request, "user_id", "user")
    body = await body_with_key(request)
    amount = service.check_amount(body.get("amount"), config_of(request))
    reason = body.get("reason")
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= 200:
        raise invalid(
            "reason must be 1–200 characters",
            [{"loc": ["body", "reason"], "msg": "1–200 characters", "type": "string"}],
        )

    async def operation(session: AsyncSession) -> Outcome:
        transaction_id = await service.grant_admin_bonus(session, principal.user_id, user_id, amount, reason.strip())
        await audit.record(
            session,
            "wallet.bonus",
            actor_id=principal.user_id,
            target_user_id=user_id,
            ip=client_ip(request),
            details={"amount": amount, "reason": reason.strip()},
        )
        return Outcome(
            201,
            {
                "transaction_id": transaction_id,
                "user_id": user_id,
                "amount": amount,
                "balance": await queries.balances(session, user_id),
            },
        )

    return await money_post(request, principal.user_id, body, operation)


@wallet_endpoint
async def user_wallet(request: Request) -> Response:
    await require_admin(request)
    user_id = path_id(request, "user_id", "user")
    page = page_of(request)
    async with database_of(request).session() as session:
        balances = await queries.balances(session, user_id)
        items, next_cursor = await queries.history(session, user_id, page.limit, page.cursor)
    return ORJSONResponse(
        {
            "user_id": user_id,
            **balances,
            "items": items,
            "next_cursor": str(next_cursor) if next_cursor is not None else None,
        }
    )


def wallet_admin_routes() -> list[Route]:
    return [
        Route("/api/admin/withdrawals", list_withdrawals, methods=["GET"]),
        Route("/api/admin/withdrawals/{withdrawal_id}/approve", approve, methods=["POST"]),
        Route("/api/admin/withdrawals/{withdrawal_id}/reject", reject, methods=["POST"]),
        Route("/api/admin/users/{user_id}/bonus", grant_bonus, methods=["POST"]),
        Route("/api/admin/users/{user_id}/wallet", user_wallet, methods=["GET"]),
    ]
