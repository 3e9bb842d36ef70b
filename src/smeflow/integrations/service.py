"""Integrations: a tenant's connected provider accounts (create, list, read, change, delete, open).

Key contracts:

* The session must be bound to ``tenant_id`` (``DbScope.tenant``); another tenant's integration
  is :class:`~smeflow.errors.NotFound`, like one that does not exist.
* Functions flush, never commit: each change and its audit record (``integration.created``,
  ``.updated``, ``.deleted``) commit together in the caller's transaction. Audit data names the
  credential fields that are set, never a value, and never the webhook token.
* Config and credentials are checked against the connector's ``config_model`` and
  ``credentials_model``; every problem is named ``config.<field>`` / ``credentials.<field>``
  (the API adds ``body.``), and nothing is written.
* Credentials and the webhook URL token are sealed by the :class:`~smeflow.integrations.Vault`
  (a fresh data key each time); replacing credentials keeps the webhook token, so the URL the
  tenant pasted into the provider's portal keeps working.
* :func:`open_integration` is how the engine and the webhook ingress get what a connector sees
  (:class:`smeflow.connectors.Integration`, credentials decrypted, in memory for one call).
* :func:`check_integration` and :func:`rotate_keys` (in ``_check.py`` and ``_rotation.py``) take
  the :class:`~smeflow.db.Database` and open their own transactions: a check calls the provider
  outside any transaction, rotation walks every tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.connectors import Connector, ConnectorRegistry
from smeflow.connectors import Integration as ConnectorIntegration
from smeflow.core import new_id, new_token, utcnow
from smeflow.core.sealing import UnsealError
from smeflow.db import publish_auth_change
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.identity import Principal
from smeflow.integrations._ingress import cache_key
from smeflow.integrations._loading import sealed_of, to_connector_integration, webhook_url
from smeflow.integrations._validation import auditable, checked, credential_fields
from smeflow.integrations._vault import Sealed, Vault
from smeflow.integrations.models import Integration
from smeflow.integrations.schemas import IntegrationCreate, IntegrationOut, IntegrationUpdate

Acting = Principal | Actor

_NO_INTEGRATION = "No such integration"


class ConnectorNotInstalled(Conflict):
    code = "connector_not_installed"
    title = "The integration's connector is not installed"


class IntegrationDisabled(Conflict):
    code = "integration_disabled"
    title = "The integration is disabled"


class IntegrationOutdated(Conflict):
    code = "integration_outdated"
    title = "The integration's settings do not fit its connector any more"


def _actor(actor: Acting) -> Actor:
    return actor.actor if isinstance(actor, Principal) else actor


def _by(actor: Acting) -> str:
    who = _actor(actor)
    return f"{who.type}:{who.id}"


def _check_tenant(actor: Acting, tenant_id: uuid.UUID) -> None:
    # NotFound, never 403: a principal of another tenant learns nothing about this one.
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound(_NO_INTEGRATION)


def _apply(row: Integration, sealed: Sealed) -> None:
    row.sealed_credentials = sealed.credentials
    row.sealed_webhook_token = sealed.webhook_token
    row.wrapped_key = sealed.wrapped_key
    row.key_id = sealed.key_id


async def _flush_named(session: AsyncSession, name: str) -> None:
    """Flush; a name another integration of the tenant has is a :class:`Conflict` on ``name``."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "uq_integrations_tenant_id_name" not in str(exc.orig):
            raise
        raise Conflict(
            f"an integration named {name!r} already exists",
            fields=[FieldProblem("name", "already taken", "duplicate")],
        ) from exc


# --- operations ---------------------------------------------------------------------------


async def create_integration(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    registry: ConnectorRegistry,
    vault: Vault,
    data: IntegrationCreate,
) -> Integration:
    """Connect an account: validate, seal the credentials with a new webhook token, store, audit
    ``integration.created``. :class:`ValidationFailed` names ``connector``, ``config.<field>``,
    ``credentials.<field>``; :class:`Conflict` for a name the tenant already uses."""
    _check_tenant(actor, tenant_id)
    connector = registry.get(data.connector)
    if connector is None:
        known = ", ".join(registry.keys()) or "none is installed"
        message = f"unknown connector {data.connector[:40]!r} (installed: {known})"
        raise ValidationFailed(message, fields=[FieldProblem("connector", message, "unknown_connector")])
    config, credentials = checked(connector, data.config, data.credentials)
    assert config is not None
    assert credentials is not None
    row = Integration(
        tenant_id=tenant_id,
        id=new_id(),
        connector=connector.key,
        name=data.name,
        status="active",
        config=config,
        allowed_ips=list(data.allowed_ips),
        created_by=_by(actor),
    )
    _apply(row, vault.seal(tenant_id, row.id, credentials, new_token()))
    session.add(row)
    await _flush_named(session, row.name)
    details = {
        "connector": row.connector,
        "connector_version": connector.version,
        "name": row.name,
        "config": auditable(config),
        "credentials_set": credential_fields(credentials),
        "allowed_ips": row.allowed_ips,
        "key_id": row.key_id,
    }
    await record(
        session, tenant_id, _actor(actor), "integration.created", "integration", str(row.id), details
    )
    return row


async def list_integrations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    after_name: str | None = None,
    connector: str | None = None,
) -> list[Integration]:
    """The tenant's integrations by name (after ``after_name``), optionally of one connector."""
    query = select(Integration).where(Integration.tenant_id == tenant_id).order_by(Integration.name)
    if after_name is not None:
        query = query.where(Integration.name > after_name)
    if connector is not None:
        query = query.where(Integration.connector == connector)
    return list((await session.execute(query.limit(limit))).scalars())


async def get_integration(
    session: AsyncSession, tenant_id: uuid.UUID, integration_id: uuid.UUID, *, lock: bool = False
) -> Integration:
    """One integration of the tenant (:class:`NotFound` otherwise); ``lock``: ``FOR UPDATE``."""
    query = select(Integration).where(Integration.tenant_id == tenant_id, Integration.id == integration_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(_NO_INTEGRATION)
    return row


def _connector_of(registry: ConnectorRegistry, row: Integration) -> Connector:
    connector = registry.get(row.connector)
    if connector is None:
        raise ConnectorNotInstalled(
            f"the connector {row.connector!r} of this integration is not installed on this deployment"
        )
    return connector


async def update_integration(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    registry: ConnectorRegistry,
    vault: Vault,
    integration_id: uuid.UUID,
    patch: IntegrationUpdate,
) -> Integration:
    """Apply ``patch`` (``config``/``credentials`` replace the stored ones, credentials resealed
    under a fresh data key with the same webhook token) and audit ``integration.updated`` with
    what changed; a patch that changes nothing writes nothing."""
    _check_tenant(actor, tenant_id)
    row = await get_integration(session, tenant_id, integration_id, lock=True)
    changes: dict[str, Any] = {}
    config = credentials = None
    if patch.config is not None or patch.credentials is not None:
        config, credentials = checked(_connector_of(registry, row), patch.config, patch.credentials)
    if patch.name is not None and patch.name != row.name:
        changes["name"] = [row.name, patch.name]
        row.name = patch.name
    if patch.status is not None and patch.status != row.status:
        changes["status"] = [row.status, patch.status]
        row.status = patch.status
    if config is not None and config != row.config:
        changes["config"] = auditable(config)
        row.config = config
    if patch.allowed_ips is not None and patch.allowed_ips != list(row.allowed_ips):
        changes["allowed_ips"] = patch.allowed_ips
        row.allowed_ips = list(patch.allowed_ips)
    if credentials is not None:
        try:
            token = vault.open_token(tenant_id, row.id, sealed_of(row))
        except UnsealError:  # sealed with a key this deployment lost: new credentials, new URL
            token = new_token()
            changes["webhook_url_renewed"] = True
        _apply(row, vault.seal(tenant_id, row.id, credentials, token))
        changes["credentials_set"] = credential_fields(credentials)
        changes["key_id"] = row.key_id
    if not changes:
        return row
    row.updated_at = utcnow()
    await _flush_named(session, row.name)
    names = {"credentials_set": "credentials", "key_id": None, "webhook_url_renewed": None}
    changes["changed"] = sorted(filter(None, (names.get(key, key) for key in changes)))
    await record(
        session, tenant_id, _actor(actor), "integration.updated", "integration", str(row.id), changes
    )
    await publish_auth_change(session, cache_key(row.id))  # every process's ingress forgets it
    return row


async def delete_integration(
    session: AsyncSession, actor: Acting, tenant_id: uuid.UUID, integration_id: uuid.UUID
) -> None:
    """Delete the integration (its deliveries, inbox events and outbox items go with it) and
    audit ``integration.deleted``."""
    _check_tenant(actor, tenant_id)
    row = await get_integration(session, tenant_id, integration_id, lock=True)
    details = {"connector": row.connector, "name": row.name}
    await session.delete(row)
    await session.flush()
    await record(
        session, tenant_id, _actor(actor), "integration.deleted", "integration", str(row.id), details
    )
    await publish_auth_change(session, cache_key(row.id))


def describe(
    row: Integration, vault: Vault, *, public_url: str | None, registry: ConnectorRegistry | None = None
) -> IntegrationOut:
    """The integration as the API shows it: which credential fields are set (never a value) and
    its webhook URL (on ``public_url``, with the connector's webhook segment when ``registry``
    has the connector; none without a ``public_url``)."""
    try:
        credentials, token = vault.open(row.tenant_id, row.id, sealed_of(row))
    except UnsealError:
        return IntegrationOut.of(row, credentials_set=[], credentials_readable=False, webhook_url=None)
    connector = registry.get(row.connector) if registry is not None else None
    segment = connector.webhook_segment() if connector is not None else None
    return IntegrationOut.of(
        row,
        credentials_set=credential_fields(credentials),
        credentials_readable=True,
        webhook_url=webhook_url(public_url, row, token, segment) if public_url else None,
    )


@dataclass(frozen=True, slots=True)
class OpenedIntegration:
    """An integration ready for its connector: the connector and what it sees."""

    connector: Connector
    integration: ConnectorIntegration
    status: str


def open_row(
    row: Integration,
    registry: ConnectorRegistry,
    vault: Vault,
    *,
    public_url: str | None,
    require_active: bool = True,
) -> OpenedIntegration:
    """``row`` opened for its connector (for the ingress, which finds rows before binding a tenant).

    :class:`IntegrationDisabled` (with ``require_active``), :class:`ConnectorNotInstalled`,
    :class:`IntegrationOutdated` when the stored config or credentials no longer fit the
    connector's models, :class:`~smeflow.core.sealing.UnsealError` when the secrets do not open.
    """
    if require_active and row.status != "active":
        raise IntegrationDisabled(f"the integration {row.name!r} is disabled")
    connector = _connector_of(registry, row)
    try:
        integration = to_connector_integration(row, connector, vault, public_url=public_url)
    except ValidationError:
        # the message names no value: the errors could quote a credential
        raise IntegrationOutdated(
            f"the integration {row.name!r} no longer fits connector {connector.key} "
            f"{connector.version}; update its settings and credentials"
        ) from None
    return OpenedIntegration(connector, integration, row.status)


async def open_integration(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    integration_id: uuid.UUID,
    registry: ConnectorRegistry,
    vault: Vault,
    *,
    public_url: str | None,
    require_active: bool = True,
) -> OpenedIntegration:
    """The tenant's integration opened for its connector (see :func:`open_row`)."""
    row = await get_integration(session, tenant_id, integration_id)
    return open_row(row, registry, vault, public_url=public_url, require_active=require_active)


__all__ = [
    "ConnectorNotInstalled",
    "IntegrationDisabled",
    "IntegrationOutdated",
    "OpenedIntegration",
    "create_integration",
    "delete_integration",
    "describe",
    "get_integration",
    "list_integrations",
    "open_integration",
    "open_row",
    "update_integration",
]
