"""Checking an integration: does the provider accept its credentials?

Key contracts: the provider is called **outside** any database transaction (a slow provider
holds no connection or row lock): one short transaction opens the integration, the connector's
``check()`` runs through the :class:`~smeflow.connectors.HttpFactory` (the integration's base
URL, timeouts, secrets redacted), and a second records ``checked_at`` and ``check_error``. A
refusal is an answer, not an error: the typed connector error's safe message (redacted once more
against the integration's secrets) is returned and stored. An integration deleted meanwhile is
simply not updated.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from smeflow.connectors import ActionContext, ConnectorError, ConnectorRegistry, HttpFactory
from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.integrations._vault import Vault
from smeflow.integrations.models import Integration
from smeflow.integrations.service import Acting, _check_tenant, open_integration

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``ok``, or the provider's refusal in words safe to show (and the error's code)."""

    ok: bool
    error: str | None
    error_code: str | None
    checked_at: datetime


async def check_integration(
    db: Database,
    actor: Acting,
    tenant_id: uuid.UUID,
    integration_id: uuid.UUID,
    registry: ConnectorRegistry,
    vault: Vault,
    http: HttpFactory,
    *,
    user_id: uuid.UUID | None = None,
) -> CheckResult:
    """Run the connector's ``check()`` for the integration (active or disabled) and record the
    outcome on it. :class:`~smeflow.errors.NotFound` for another tenant's or a missing one."""
    _check_tenant(actor, tenant_id)
    scope = DbScope.tenant(tenant_id, user_id)
    async with db.transaction(scope) as session:
        opened = await open_integration(
            session, tenant_id, integration_id, registry, vault, public_url=None, require_active=False
        )
    connector, integration = opened.connector, opened.integration
    client = http.for_integration(connector, integration)
    error = code = None
    try:
        await connector.check(ActionContext(integration, client))
    except ConnectorError as exc:
        error, code = client.redact(exc.message)[:MAX_ERROR_LENGTH], exc.code
    except Exception as exc:  # a connector's bug: say so, log only its type (a message may hold a secret)
        logger.warning(
            "the %s connector's check() failed unexpectedly: %s", connector.key, type(exc).__name__
        )
        error, code = "the connector failed unexpectedly while checking the credentials", "connector_error"
    checked_at = utcnow()
    async with db.transaction(scope) as session:
        await session.execute(
            update(Integration)
            .where(Integration.tenant_id == tenant_id, Integration.id == integration_id)
            .values(checked_at=checked_at, check_error=error)
        )
    return CheckResult(ok=error is None, error=error, error_code=code, checked_at=checked_at)


__all__ = ["CheckResult", "check_integration"]
