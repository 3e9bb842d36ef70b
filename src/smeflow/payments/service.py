"""Payment records: create one per reference, apply what the provider says, keep the history.

Key contracts:

* :func:`create_payment` is idempotent on ``reference`` (the tenant's; a run step's idempotency
  key): asking again returns the first payment, whatever its state.
* :func:`apply` is the only way a payment's status changes: it locks the row, asks the state
  machine (:mod:`._states`), and writes the new status and a ``payment_transitions`` row (and an
  audit record for settled payments) in the caller's transaction. A duplicate, late or
  contradictory observation changes nothing and says so (``changed=False``).
* Services flush; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import new_id, utcnow
from smeflow.core.money import Money
from smeflow.errors import Conflict, FieldProblem
from smeflow.payments._states import SETTLED, Observed, next_status
from smeflow.payments.models import Payment, PaymentTransition

Cause = Literal["request", "callback", "query"]
#: called in the transaction that settled a payment (succeeded, failed, reversed)
OnSettled = Callable[[AsyncSession, Payment], Awaitable[None]]

SYSTEM = Actor.system("payments")


@dataclass(frozen=True, slots=True)
class Change:
    """What :func:`apply` did."""

    changed: bool
    from_status: str
    to_status: str


async def create_payment(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    integration_id: uuid.UUID,
    connector: str,
    reference: str,
    amount: Money,
    phone: str | None = None,
    email: str | None = None,
    description: str | None = None,
    run_id: uuid.UUID | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[Payment, bool]:
    """The payment with ``reference`` (created now in ``created`` state, or the one that exists)."""
    now = utcnow()
    inserted = await session.execute(
        insert(Payment)
        .values(
            tenant_id=tenant_id,
            id=new_id(),
            integration_id=integration_id,
            connector=connector,
            reference=reference,
            amount_minor=amount.minor,
            currency=amount.currency,
            status="created",
            phone=phone,
            email=email,
            description=description,
            run_id=run_id,
            extra=extra or {},
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "reference"])
        .returning(Payment.id)
    )
    new = inserted.scalar_one_or_none()
    payment = (
        await session.execute(
            select(Payment).where(Payment.tenant_id == tenant_id, Payment.reference == reference)
        )
    ).scalar_one()
    if new is None and (
        payment.integration_id != integration_id
        or payment.amount_minor != amount.minor
        or payment.currency != amount.currency
    ):
        message = f"the reference {reference!r} belongs to another payment"
        raise Conflict(message, fields=[FieldProblem("body.reference", message, "duplicate")])
    if new is not None:
        session.add(
            PaymentTransition(
                tenant_id=tenant_id,
                payment_id=payment.id,
                from_status=None,
                to_status="created",
                cause="request",
            )
        )
        await session.flush()
    return payment, new is not None


async def get_payment(session: AsyncSession, tenant_id: uuid.UUID, payment_id: uuid.UUID) -> Payment | None:
    return (
        await session.execute(select(Payment).where(Payment.tenant_id == tenant_id, Payment.id == payment_id))
    ).scalar_one_or_none()


async def lock_payment(session: AsyncSession, tenant_id: uuid.UUID, payment_id: uuid.UUID) -> Payment | None:
    """The payment, locked for this transaction (one change at a time)."""
    return (
        await session.execute(
            select(Payment)
            .where(Payment.tenant_id == tenant_id, Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def find_by_provider_reference(
    session: AsyncSession, tenant_id: uuid.UUID, integration_id: uuid.UUID, provider_reference: str
) -> Payment | None:
    """The payment an integration's provider knows as ``provider_reference`` (locked)."""
    return (
        await session.execute(
            select(Payment)
            .where(
                Payment.tenant_id == tenant_id,
                Payment.integration_id == integration_id,
                (Payment.provider_reference == provider_reference)
                | (Payment.reference == provider_reference),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def mark_requested(
    session: AsyncSession, payment: Payment, *, provider_reference: str, checkout_url: str | None
) -> Change:
    """The provider accepted the request: ``pending``, with its reference for the payment."""
    payment.provider_reference = provider_reference
    payment.checkout_url = checkout_url
    return await apply(session, payment, Observed("pending"), cause="request")


async def apply(
    session: AsyncSession,
    payment: Payment,
    observed: Observed,
    *,
    cause: Cause,
    event_id: str | None = None,
    on_settled: OnSettled | None = None,
) -> Change:
    """Apply one observation of the provider to ``payment`` (which the caller has locked)."""
    before = payment.status
    decision = next_status(before, payment.amount_minor, payment.currency, observed)
    if decision.to is None:
        await session.flush()
        return Change(False, before, before)
    now = utcnow()
    payment.status = decision.to
    payment.updated_at = now
    if observed.provider_ref:
        payment.provider_ref = observed.provider_ref
    if decision.to in ("failed",):
        payment.failure_code = decision.code
        payment.failure_reason = decision.reason
    if decision.to in SETTLED:
        payment.settled_at = now
    session.add(
        PaymentTransition(
            tenant_id=payment.tenant_id,
            payment_id=payment.id,
            from_status=before,
            to_status=decision.to,
            cause=cause,
            event_id=event_id,
            detail=decision.reason,
            at=now,
        )
    )
    await session.flush()
    if decision.to in SETTLED:
        await record(
            session,
            payment.tenant_id,
            SYSTEM,
            f"payment.{decision.to}",
            "payment",
            str(payment.id),
            {
                "reference": payment.reference,
                "amount_minor": payment.amount_minor,
                "currency": payment.currency,
                "connector": payment.connector,
                "cause": cause,
                **({"code": decision.code} if decision.code else {}),
            },
        )
        if on_settled is not None:
            await on_settled(session, payment)
    return Change(True, before, decision.to)


async def transitions(
    session: AsyncSession, tenant_id: uuid.UUID, payment_id: uuid.UUID
) -> list[PaymentTransition]:
    """A payment's history, oldest first."""
    rows = await session.execute(
        select(PaymentTransition)
        .where(PaymentTransition.tenant_id == tenant_id, PaymentTransition.payment_id == payment_id)
        .order_by(PaymentTransition.at, PaymentTransition.id)
    )
    return list(rows.scalars())


async def list_payments(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    limit: int,
    *,
    status: str | None = None,
    after: uuid.UUID | None = None,
) -> list[Payment]:
    """The tenant's payments, newest first (ids are time-ordered), from after ``after``."""
    query = select(Payment).where(Payment.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Payment.status == status)
    if after is not None:
        query = query.where(Payment.id < after)
    return list((await session.execute(query.order_by(Payment.id.desc()).limit(limit))).scalars())


async def pending_before(
    session: AsyncSession, cutoff: datetime, limit: int = 100
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(tenant, payment)`` of pending payments not updated since ``cutoff`` (``platform`` scope)."""
    rows = await session.execute(
        select(Payment.tenant_id, Payment.id)
        .where(Payment.status == "pending", Payment.updated_at < cutoff)
        .order_by(Payment.updated_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]


def quiet_period(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)


__all__ = [
    "SYSTEM",
    "Cause",
    "Change",
    "OnSettled",
    "apply",
    "create_payment",
    "find_by_provider_reference",
    "get_payment",
    "list_payments",
    "lock_payment",
    "mark_requested",
    "pending_before",
    "quiet_period",
    "transitions",
]
