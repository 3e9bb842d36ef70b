"""From a stored integration row to what a connector sees (:class:`smeflow.connectors.Integration`).

The one place credentials are decrypted; the result lives in memory for one call and is never
stored, logged or returned by the API.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.connectors import Connector
from smeflow.connectors import Integration as ConnectorIntegration
from smeflow.integrations._vault import Sealed, Vault
from smeflow.integrations.models import Integration

WEBHOOK_PATH = "/api/v1/webhooks"


def sealed_of(row: Integration) -> Sealed:
    return Sealed(row.sealed_credentials, row.sealed_webhook_token, row.wrapped_key, row.key_id)


def webhook_url(public_url: str, row: Integration, token: str, segment: str | None = None) -> str:
    """Where the provider must send this integration's callbacks (``segment``: the connector's
    :meth:`~smeflow.connectors.Connector.webhook_segment`, its key by default)."""
    return f"{public_url.rstrip('/')}{WEBHOOK_PATH}/{segment or row.connector}/{row.id}/{token}"


def to_connector_integration(
    row: Integration, connector: Connector, vault: Vault, *, public_url: str | None
) -> ConnectorIntegration:
    """The integration as ``connector`` sees it: config and decrypted credentials, webhook URL."""
    credentials, token = vault.open(row.tenant_id, row.id, sealed_of(row))
    return ConnectorIntegration(
        id=row.id,
        tenant_id=row.tenant_id,
        connector=row.connector,
        config=connector.config_model.model_validate(row.config),
        credentials=connector.credentials_model.model_validate(credentials),
        webhook_url=webhook_url(public_url, row, token, connector.webhook_segment()) if public_url else None,
    )


async def find_integration(
    session: AsyncSession, tenant_id: uuid.UUID, name_or_id: str
) -> Integration | None:
    """The tenant's integration with this id, or else this name (any status)."""
    query = select(Integration).where(Integration.tenant_id == tenant_id)
    try:
        query = query.where(Integration.id == uuid.UUID(name_or_id))
    except ValueError:
        query = query.where(Integration.name == name_or_id)
    return (await session.execute(query)).scalar_one_or_none()


__all__ = ["WEBHOOK_PATH", "find_integration", "sealed_of", "to_connector_integration", "webhook_url"]
