"""Taking a payment end to end: ask the provider, take its callbacks, confirm by query, reconcile.

Key contracts:

* :meth:`PaymentFlow.request` creates the payment (idempotent on its reference) and commits it
  *before* calling the provider, then records the provider's answer: ``pending`` with its
  reference, or ``failed`` when the provider refused. A payment that already left ``created`` is
  returned as it is: asking twice never asks the customer twice.
* A callback is never taken at its word for money coming in: a ``payment.succeeded`` event is
  confirmed by the provider's status query before the payment moves (a forged or replayed
  callback cannot release value; a callback for another amount fails the payment). Failure
  callbacks move it directly (a failure releases nothing).
* :meth:`PaymentFlow.reconcile` queries every payment pending longer than a quiet period, so a
  payment whose callback never came still ends ``succeeded`` or ``failed``.
* Everything that changes a payment goes through :func:`.service.apply` (locked row, state
  machine, history, audit, ``on_settled`` in the same transaction).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.connectors import (
    ActionContext,
    Connector,
    ConnectorError,
    ConnectorRegistry,
    HttpFactory,
    Rejected,
)
from smeflow.core import utcnow
from smeflow.core.money import Money
from smeflow.core.phones import PhoneError, to_e164
from smeflow.db import Database, DbScope
from smeflow.errors import FieldProblem, NotFound, ValidationFailed
from smeflow.integrations._loading import find_integration
from smeflow.integrations._vault import Vault
from smeflow.integrations.models import InboxEvent, Integration
from smeflow.integrations.service import open_row
from smeflow.payments._states import Observed
from smeflow.payments.models import Payment
from smeflow.payments.service import (
    OnSettled,
    apply,
    create_payment,
    find_by_provider_reference,
    lock_payment,
    mark_requested,
    pending_before,
    quiet_period,
)
from smeflow.tenancy.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Started:
    """The provider accepted a payment request."""

    provider_reference: str
    checkout_url: str | None = None


class Gateway(Protocol):
    """How one payment connector starts a payment and tells where it stands."""

    async def start(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Started: ...

    async def status(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Observed: ...


class PaymentNotYetKnown(ConnectorError):
    """A callback for a payment whose request is not recorded yet (it raced its own answer):
    the inbox tries it again in ``retry_after`` seconds."""

    code = "payment_not_yet_known"
    retryable = True

    def __init__(self, message: str, *, retry_after: float = 0.1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: how long a callback may wait for its payment's request to be recorded before it is an error
RACE_WINDOW = timedelta(minutes=5)


class PaymentFlow:
    """Payments over the tenant's payment integrations (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        registry: ConnectorRegistry,
        vault: Vault,
        http: HttpFactory,
        gateways: Mapping[str, Gateway],
        public_url: str | None = None,
        on_settled: OnSettled | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.vault = vault
        self.http = http
        self.gateways = gateways
        self.public_url = public_url
        self.on_settled = on_settled

    # --- asking ---------------------------------------------------------------------------

    async def request(
        self,
        tenant_id: uuid.UUID,
        *,
        integration: str,
        amount: Money,
        reference: str,
        phone: str | None = None,
        email: str | None = None,
        description: str | None = None,
        run_id: uuid.UUID | None = None,
    ) -> tuple[Payment, bool]:
        """Ask the customer to pay ``amount`` through the integration ``integration`` (a name or an id)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            row = await _integration(session, tenant_id, integration)
            if phone is not None:
                phone = await _e164(session, tenant_id, phone)
            if row.connector not in self.gateways:
                raise ValidationFailed(
                    f"the integration {row.name!r} ({row.connector}) does not take payments"
                )
            payment, created = await create_payment(
                session,
                tenant_id,
                integration_id=row.id,
                connector=row.connector,
                reference=reference,
                amount=amount,
                phone=phone,
                email=email,
                description=description,
                run_id=run_id,
            )
            if payment.status != "created":
                return payment, created
            connector, ctx = self._context(row, idempotency_key=reference)
        gateway = self.gateways[row.connector]
        try:
            started = await gateway.start(connector, ctx, payment)
        except Rejected as exc:
            async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
                locked = await lock_payment(session, tenant_id, payment.id)
                assert locked is not None
                await apply(
                    session,
                    locked,
                    Observed("failed", reason=exc.message, code=exc.provider_code or exc.code),
                    cause="request",
                    on_settled=self.on_settled,
                )
                return locked, created
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            locked = await lock_payment(session, tenant_id, payment.id)
            assert locked is not None
            if locked.status == "created":
                await mark_requested(
                    session,
                    locked,
                    provider_reference=started.provider_reference,
                    checkout_url=started.checkout_url,
                )
            return locked, created

    # --- callbacks ------------------------------------------------------------------------

    async def on_inbox_event(self, session: AsyncSession, event: InboxEvent) -> None:
        """The inbox handler of ``payment.*`` events (runs in the transaction that claimed it)."""
        await self.handle_event(
            session,
            event.tenant_id,
            event.integration_id,
            event.kind,
            event.reference,
            event.data,
            event.event_id,
            event.created_at,
        )

    async def handle_event(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        integration_id: uuid.UUID,
        kind: str,
        reference: str | None,
        data: Mapping[str, Any],
        event_id: str,
        received_at: datetime | None = None,
    ) -> None:
        """Apply a ``payment.*`` inbox event, in the caller's (tenant-bound) transaction."""
        if not reference:
            logger.warning("a %s event without a reference was ignored", kind)
            return
        payment = await find_by_provider_reference(session, tenant_id, integration_id, reference)
        if payment is None:
            if received_at is not None and utcnow() - received_at > RACE_WINDOW:
                raise NotFound(f"no payment has the reference {reference!r}")
            raise PaymentNotYetKnown(f"no payment with reference {reference!r} yet")
        if kind == "payment.succeeded":
            row = await _integration(session, tenant_id, str(integration_id))
            observed = _with_callback(await self._query(row, payment), data)
            await apply(
                session, payment, observed, cause="query", event_id=event_id, on_settled=self.on_settled
            )
        elif kind == "payment.failed":
            observed = Observed(
                "failed", reason=_text(data.get("reason")), code=_text(data.get("provider_code"))
            )
            await apply(
                session, payment, observed, cause="callback", event_id=event_id, on_settled=self.on_settled
            )
        elif kind == "payment.reversed":
            await apply(
                session,
                payment,
                Observed("reversed"),
                cause="callback",
                event_id=event_id,
                on_settled=self.on_settled,
            )

    # --- reconciliation -------------------------------------------------------------------

    async def check(self, tenant_id: uuid.UUID, payment_id: uuid.UUID) -> bool:
        """Ask the provider about one unsettled payment now; whether it moved."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            payment = await lock_payment(session, tenant_id, payment_id)
            if payment is None:
                raise NotFound("No such payment")
            if payment.status not in ("created", "pending"):
                return False
            row = await _integration(session, tenant_id, str(payment.integration_id))
            observed = await self._query(row, payment)
            change = await apply(session, payment, observed, cause="query", on_settled=self.on_settled)
            return change.changed

    async def reconcile(self, *, quiet_seconds: float = 30.0, limit: int = 100) -> int:
        """Query every payment pending for ``quiet_seconds`` or more; the number that moved."""
        async with self.db.transaction(DbScope.platform()) as session:
            due = await pending_before(session, quiet_period(quiet_seconds), limit)
        moved = 0
        for tenant_id, payment_id in due:
            try:
                async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
                    payment = await lock_payment(session, tenant_id, payment_id)
                    if payment is None or payment.status != "pending":
                        continue
                    row = await _integration(session, tenant_id, str(payment.integration_id))
                    observed = await self._query(row, payment)
                    change = await apply(
                        session, payment, observed, cause="query", on_settled=self.on_settled
                    )
                    if not change.changed:
                        payment.updated_at = quiet_period(0)  # queried now: next look after the quiet period
                    moved += change.changed
            except ConnectorError as exc:
                logger.info("payment %s could not be reconciled yet: %s", payment_id, exc.message)
        return moved

    # --- helpers --------------------------------------------------------------------------

    def _context(
        self, row: Integration, *, idempotency_key: str | None = None
    ) -> tuple[Connector, ActionContext]:
        connector = self.registry.get(row.connector)
        if connector is None:
            raise NotFound(f"the connector {row.connector!r} is not installed")
        integration = open_row(row, self.registry, self.vault, public_url=self.public_url).integration
        http = self.http.for_integration(connector, integration)
        return connector, ActionContext(integration, http, idempotency_key=idempotency_key)

    async def _query(self, row: Integration, payment: Payment) -> Observed:
        connector, ctx = self._context(row)
        return await self.gateways[row.connector].status(connector, ctx, payment)


async def _integration(session: AsyncSession, tenant_id: uuid.UUID, name_or_id: str) -> Integration:
    row = await find_integration(session, tenant_id, name_or_id)
    if row is None or row.status != "active":
        raise NotFound(f"there is no active integration {name_or_id!r}")
    return row


async def _e164(session: AsyncSession, tenant_id: uuid.UUID, phone: str) -> str:
    """``phone`` in E.164, read in the tenant's country when it has no country code."""
    country = (await session.execute(select(Tenant.country).where(Tenant.id == tenant_id))).scalar_one()
    try:
        return to_e164(phone, country)
    except PhoneError as exc:
        raise ValidationFailed(
            str(exc), fields=[FieldProblem("body.phone", str(exc), "invalid_phone")]
        ) from None


def _with_callback(observed: Observed, data: Mapping[str, Any]) -> Observed:
    """The query's answer, completed by the (verified) callback's amount and receipt where the
    query says nothing of them (Daraja's STK Query gives neither)."""
    if observed.status != "succeeded":
        return observed
    return replace(
        observed,
        amount_minor=observed.amount_minor
        if observed.amount_minor is not None
        else _int(data.get("amount_minor")),
        currency=observed.currency or _text(data.get("currency")),
        provider_ref=observed.provider_ref or _text(data.get("provider_ref")),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


__all__ = ["Gateway", "PaymentFlow", "PaymentNotYetKnown", "Started"]
