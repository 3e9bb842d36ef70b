"""The integrations of a process (API or worker), put together once: connectors, the vault, their
HTTP clients, payments, and what the inbox does with each kind of provider event.

Key contracts:

* Connector HTTP goes through the runtime's SSRF-guarded client (a tenant's ``base_url`` pointing
  at an internal address is refused unless the operator allows private networks).
* Every connector action and ``payments.request`` become workflow actions.
* A payment that settles emits the internal event ``payment.<status>`` (payload: the payment as
  :func:`payment_view` shows it; key ``payment:<id>:<status>``, so it is emitted once) in the
  transaction that settled it: runs waiting for it resume, event triggers start.
* Inbox handlers: ``payment.*`` events go to :meth:`PaymentFlow.on_inbox_event`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.agents import AgentUnavailable, Credentials
from smeflow.audit import Actor
from smeflow.bookings import expire_holds
from smeflow.connectors import ConnectorRegistry, HttpFactory, default_registry
from smeflow.db import Database, DbScope
from smeflow.engine.runtime._actions import ActionRegistry
from smeflow.engine.runtime._connector_actions import (
    IntegrationOpener,
    payment_view,
    register_integration_actions,
)
from smeflow.engine.runtime._errors import StepFailed
from smeflow.integrations._vault import Vault
from smeflow.integrations.models import Integration as IntegrationRow
from smeflow.payments import PaymentFlow, builtin_gateways
from smeflow.payments.models import Payment
from smeflow.settings import Settings

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

PAYMENTS_ACTOR = Actor.system("payments")
HOLD_SWEEP_SECONDS = 5.0


@dataclass(slots=True)
class IntegrationKit:
    """What a process needs to use tenants' integrations."""

    registry: ConnectorRegistry
    vault: Vault
    http: HttpFactory
    opener: IntegrationOpener
    payments: PaymentFlow
    queue: RunQueue | None = None

    @classmethod
    def build(
        cls,
        db: Database,
        settings: Settings,
        client: httpx.AsyncClient,
        registry: ConnectorRegistry | None = None,
    ) -> IntegrationKit:
        registry = registry if registry is not None else default_registry()
        vault = Vault.from_settings(settings)
        http = HttpFactory(client)
        kit = cls(
            registry=registry,
            vault=vault,
            http=http,
            opener=IntegrationOpener(db, vault, registry, public_url=settings.public_url),
            payments=PaymentFlow(
                db,
                registry=registry,
                vault=vault,
                http=http,
                gateways=builtin_gateways(settings.public_url),
                public_url=settings.public_url,
            ),
        )
        kit.payments.on_settled = kit.payment_settled
        return kit

    def install(self, actions: ActionRegistry) -> None:
        """Add the connector actions and ``payments.request`` to ``actions``."""
        register_integration_actions(actions, self.registry, self.opener, self.http, self.payments)

    def periodic(self, settings: Settings) -> dict[str, tuple[float, Callable[[], Awaitable[object]]]]:
        """The workers' periodic jobs: reconciling payments whose provider went quiet, and expiring
        the booking holds whose deposit never came."""

        async def reconcile() -> int:
            return await self.payments.reconcile(quiet_seconds=settings.payments_quiet_seconds)

        async def expire() -> int:
            return len(await expire_holds(self.opener.db))

        return {
            "payments-reconcile": (settings.payments_reconcile_every_seconds, reconcile),
            # an unpaid booking hold frees its slot within a few seconds of expiring
            "bookings-expire-holds": (HOLD_SWEEP_SECONDS, expire),
        }

    def handlers(self) -> dict[str, Any]:
        """The inbox handlers of this process, by event kind or prefix."""
        return {"payment.": self.payments.on_inbox_event}

    async def llm_credentials(
        self, tenant_id: uuid.UUID, provider: str, name_or_id: str | None
    ) -> Credentials:
        """The key (and base URL, region) of the tenant's integration for an LLM provider: the one
        named, or else its only active integration of that provider's connector."""
        connector = self.registry.get(provider)
        if connector is None:
            raise AgentUnavailable(f"the language-model connector {provider!r} is not installed")
        if name_or_id is None:
            async with self.opener.db.transaction(DbScope.tenant(tenant_id)) as session:
                names = (
                    await session.scalars(
                        select(IntegrationRow.name).where(
                            IntegrationRow.tenant_id == tenant_id,
                            IntegrationRow.connector == provider,
                            IntegrationRow.status == "active",
                        )
                    )
                ).all()
            if len(names) != 1:
                raise AgentUnavailable(
                    f"the agent needs a {provider} integration: connect one"
                    if not names
                    else f"the tenant has {len(names)} {provider} integrations: "
                    "name one in the agent's config"
                )
            name_or_id = names[0]
        try:
            integration = await self.opener.open(tenant_id, name_or_id, connector)
        except StepFailed as exc:
            raise AgentUnavailable(exc.message) from None
        key = getattr(integration.credentials, "api_key", None)
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        base_url = getattr(integration.config, "base_url", None) or getattr(
            integration.credentials, "base_url", None
        )
        region = getattr(integration.config, "region", None)
        return Credentials(secret or None, str(base_url) if base_url else None, region)

    async def payment_settled(self, session: AsyncSession, payment: Payment) -> None:
        from smeflow.engine.runtime._events import emit_event

        await emit_event(
            session,
            payment.tenant_id,
            f"payment.{payment.status}",
            payment_view(payment),
            actor=PAYMENTS_ACTOR,
            queue=self.queue,
            key=f"payment:{payment.id}:{payment.status}",
        )


__all__ = ["PAYMENTS_ACTOR", "IntegrationKit"]
