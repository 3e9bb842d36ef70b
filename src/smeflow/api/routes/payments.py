"""Payments: the tenant's payments, one payment with its history, asking a customer to pay, and
checking a pending payment with the provider now.

Reading needs ``payments:read`` (viewers and up); asking and checking need ``payments:write``
(staff and up). Amounts are integer minor units plus the currency. A payment request answers 201
with the payment (``pending`` once the provider accepted it, ``failed`` with the provider's reason
when it refused); the same ``reference`` again answers 200 with the first payment and asks nobody
twice. Another tenant's payment is 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Response, status

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_uuid_cursor, paginate
from smeflow.core import new_token
from smeflow.core.money import Money, MoneyError
from smeflow.db import DbScope
from smeflow.errors import FieldProblem, NotFound, Unavailable, ValidationFailed
from smeflow.identity import Principal
from smeflow.payments import PaymentFlow
from smeflow.payments.models import Payment
from smeflow.payments.schemas import PaymentDetailOut, PaymentIn, PaymentOut, PaymentStatus
from smeflow.payments.service import get_payment, list_payments, transitions

router = APIRouter(prefix="/api/v1", tags=["payments"])


def _flow(state: State) -> PaymentFlow:
    flow: PaymentFlow | None = state.payments
    if flow is None:
        raise Unavailable("payments are not set up in this process")
    return flow


@router.get("/payments", summary="The tenant's payments, newest first")
async def list_all(
    state: State,
    principal: Annotated[Principal, require("payments:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    status: PaymentStatus | None = None,
) -> Page[PaymentOut]:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        rows = await list_payments(
            session, tenant_id, limit + 1, status=status, after=decode_uuid_cursor(cursor)
        )
        return paginate(rows, limit, lambda p: str(p.id), PaymentOut.model_validate)


async def _detail(state: State, principal: Principal, payment_id: uuid.UUID) -> PaymentDetailOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        payment = await get_payment(session, tenant_id, payment_id)
        if payment is None:
            raise NotFound("No such payment")
        history = await transitions(session, tenant_id, payment_id)
        return _out(payment, history)


def _out(payment: Payment, history: Sequence[object]) -> PaymentDetailOut:
    base = PaymentOut.model_validate(payment).model_dump()
    return PaymentDetailOut.model_validate({**base, "transitions": history})


@router.get("/payments/{payment_id}", summary="One payment and every change of its state")
async def get_one(
    payment_id: uuid.UUID, state: State, principal: Annotated[Principal, require("payments:read")]
) -> PaymentDetailOut:
    return await _detail(state, principal, payment_id)


@router.post(
    "/payments",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": PaymentDetailOut, "description": "the reference was used before: that payment"}
    },
    summary="Ask a customer to pay (an M-Pesa prompt, a card checkout link)",
)
async def request_payment(
    body: PaymentIn,
    response: Response,
    state: State,
    principal: Annotated[Principal, require("payments:write")],
) -> PaymentDetailOut:
    tenant_id = require_tenant(principal)
    try:
        amount = Money(body.amount_minor, body.currency)
    except MoneyError as exc:
        raise ValidationFailed(str(exc), fields=[FieldProblem("body.currency", str(exc))]) from None
    reference = body.reference or "pay-" + new_token(12).replace("_", "-")
    payment, created = await _flow(state).request(
        tenant_id,
        integration=body.integration,
        amount=amount,
        reference=reference,
        phone=body.phone,
        email=body.email,
        description=body.description,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return await _detail(state, principal, payment.id)


@router.post("/payments/{payment_id}/check", summary="Ask the provider where a pending payment stands, now")
async def check(
    payment_id: uuid.UUID, state: State, principal: Annotated[Principal, require("payments:write")]
) -> PaymentDetailOut:
    tenant_id = require_tenant(principal)
    await _flow(state).check(tenant_id, payment_id)
    return await _detail(state, principal, payment_id)
