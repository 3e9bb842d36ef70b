"""Connector actions and payments as workflow steps.

* Every action of every registered connector is an engine :class:`Action` of the same name
  (``mpesa.stk_push``) whose input is the connector action's input plus ``integration``: the name
  (or id) of the tenant's integration to use. The step opens that integration (its credentials
  decrypted for the call only: never in the step's input, output, event or checkpoint), calls
  the connector with the step's idempotency key for write and money actions, and maps connector
  errors onto step errors (retryable ones are retried by the node's retry policy).
* ``payments.request`` asks a customer to pay through a payment integration (M-Pesa STK push,
  Paystack, Flutterwave): one payment per step visit (its reference is the idempotency key), which
  a status query confirms before it counts; its outcome comes back as the event
  ``payment.succeeded`` or ``payment.failed`` (payload ``payment_id``, ``reference``,
  ``amount_minor``, ``currency``, ``status``), which a ``wait`` step can wait for.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from smeflow.connectors import (
    ActionContext as ConnectorContext,
)
from smeflow.connectors import (
    ActionDef,
    Connector,
    ConnectorError,
    ConnectorRegistry,
    HttpFactory,
    Integration,
)
from smeflow.core.money import Money, MoneyError
from smeflow.db import Database, DbScope
from smeflow.engine.runtime._actions import JOURNALED_EFFECTS, Action, ActionContext, ActionRegistry
from smeflow.engine.runtime._errors import StepFailed, TransientStepError
from smeflow.errors import SMEFlowError
from smeflow.integrations._loading import find_integration
from smeflow.integrations._vault import Vault
from smeflow.integrations.service import open_row
from smeflow.payments import PaymentFlow
from smeflow.payments.models import Payment

_INTEGRATION = Field(
    min_length=1, max_length=200, description="the name (or id) of the tenant's integration to use"
)


class IntegrationOpener:
    """Opens a tenant's integration for one call (decrypted credentials, in memory only)."""

    def __init__(
        self, db: Database, vault: Vault, registry: ConnectorRegistry, *, public_url: str | None = None
    ) -> None:
        self.db = db
        self.vault = vault
        self.registry = registry
        self.public_url = public_url

    async def open(self, tenant_id: uuid.UUID, name_or_id: str, connector: Connector) -> Integration:
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            row = await find_integration(session, tenant_id, name_or_id)
        if row is None or row.status != "active":
            raise StepFailed(f"there is no active integration named {name_or_id!r}")
        if row.connector != connector.key:
            raise StepFailed(
                f"the integration {name_or_id!r} is a {row.connector} integration, not {connector.key}"
            )
        try:
            return open_row(row, self.registry, self.vault, public_url=self.public_url).integration
        except SMEFlowError as exc:  # outdated settings, a connector gone, secrets that do not open
            raise StepFailed(exc.message) from None


def _step_error(name: str, exc: SMEFlowError) -> StepFailed:
    code = getattr(exc, "provider_code", None)
    message = f"{name}: {exc.message}" + (f" (provider code {code})" if code else "")
    return TransientStepError(message) if exc.retryable else StepFailed(message)


class ConnectorAction(Action):
    """One connector action as a workflow step (see the module docstring)."""

    def __init__(
        self, connector: Connector, definition: ActionDef, opener: IntegrationOpener, http: HttpFactory
    ):
        self.connector = connector
        self.definition = definition
        self.opener = opener
        self.http = http
        self.name = definition.name
        self.effect = definition.effect
        self.input_model = create_model(
            f"{definition.input_model.__name__}Step",
            __base__=definition.input_model,
            integration=(str, _INTEGRATION),
        )

    async def run(self, ctx: ActionContext, data: Any) -> JsonValue:
        integration = await self.opener.open(ctx.tenant_id, data.integration, self.connector)
        given = self.definition.input_model.model_validate(data.model_dump(exclude={"integration"}))
        call = ConnectorContext(
            integration,
            self.http.for_integration(self.connector, integration),
            idempotency_key=ctx.idempotency_key if self.effect in JOURNALED_EFFECTS else None,
        )
        try:
            result = await self.connector.call(self.name, call, given)
        except ConnectorError as exc:
            raise _step_error(self.name, exc) from None
        output: JsonValue = result.model_dump(mode="json")
        return output


class _PaymentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    integration: str = _INTEGRATION
    amount_minor: int = Field(gt=0, description="the amount in minor units (KES 1500.00 is 150000)")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency, e.g. KES, NGN, ZAR, GHS")
    phone: str | None = Field(None, max_length=20, description="the payer's phone (E.164), for M-Pesa")
    email: str | None = Field(None, max_length=254, description="the payer's email, for card payments")
    description: str | None = Field(None, max_length=100, description="what the payment is for")


class RequestPaymentAction(Action):
    """``payments.request``: ask a customer to pay (see the module docstring)."""

    name = "payments.request"
    effect = "money"
    input_model = _PaymentInput

    def __init__(self, flow: PaymentFlow) -> None:
        self.flow = flow

    async def run(self, ctx: ActionContext, data: _PaymentInput) -> JsonValue:
        try:
            amount = Money(data.amount_minor, data.currency)
        except MoneyError as exc:
            raise StepFailed(f"payments.request: {exc}") from None
        try:
            payment, _ = await self.flow.request(
                ctx.tenant_id,
                integration=data.integration,
                amount=amount,
                reference=payment_reference(ctx.idempotency_key),
                phone=data.phone,
                email=data.email,
                description=data.description,
                run_id=ctx.run_id,
            )
        except SMEFlowError as exc:
            raise _step_error(self.name, exc) from None
        return payment_view(payment)


def payment_reference(idempotency_key: str) -> str:
    """A provider-safe reference from a step's idempotency key (``<run>:<node>#2`` → letters,
    digits and dashes, at most 50 characters: what Paystack and Flutterwave accept)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in idempotency_key)
    return cleaned[-50:]


def payment_view(payment: Payment) -> dict[str, JsonValue]:
    """What a workflow (and the payment events) see of a payment."""
    return {
        "payment_id": str(payment.id),
        "reference": payment.reference,
        "status": payment.status,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "checkout_url": payment.checkout_url,
        "failure_reason": payment.failure_reason,
    }


def connector_actions(
    registry: ConnectorRegistry, opener: IntegrationOpener, http: HttpFactory
) -> list[Action]:
    """Every registered connector action as a workflow action."""
    return [
        ConnectorAction(connector, definition, opener, http)
        for connector in registry.all()
        for definition in type(connector).actions()
    ]


def register_integration_actions(
    actions: ActionRegistry,
    registry: ConnectorRegistry,
    opener: IntegrationOpener,
    http: HttpFactory,
    flow: PaymentFlow | None = None,
) -> ActionRegistry:
    """Add the connector actions (and ``payments.request``, with a flow) to ``actions``; a name
    ``actions`` has already (a test's own action) is left as it is."""
    extra: list[Action] = connector_actions(registry, opener, http)
    if flow is not None:
        extra.append(RequestPaymentAction(flow))
    for action in extra:
        if actions.get(action.name) is None:
            actions.register(action)
    return actions


__all__ = [
    "ConnectorAction",
    "IntegrationOpener",
    "RequestPaymentAction",
    "connector_actions",
    "payment_reference",
    "payment_view",
    "register_integration_actions",
]
