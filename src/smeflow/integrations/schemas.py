"""Integrations and connectors in and out of the API.

Key contracts: no output model here has a field that can hold a credential. An integration says
*which* of its credential fields are set (``credentials_set``), never their values, not even
masked; it does carry its webhook URL, which the tenant pastes into the provider's portal.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from smeflow.connectors import Connector, Effect, WebhookAuth
from smeflow.integrations.models import Integration

MAX_NAME_LENGTH = 200
MAX_ALLOWED_IPS = 50

IntegrationStatus = Literal["active", "disabled"]
IntegrationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_LENGTH)
]
ConnectorKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]

_CONFIG = "the connector's settings (its config JSON Schema, from GET /api/v1/connectors)"
_CREDENTIALS = (
    "the connector's credentials (its credentials JSON Schema); sealed when stored, never shown again"
)
_IPS = "addresses or networks (CIDR) webhook deliveries must come from; empty: any"


def _networks(value: list[str] | None) -> list[str] | None:
    """Each entry normalised as a network (``10.0.0.1`` → ``10.0.0.1/32``); ``ValueError`` names it."""
    if value is None:
        return None
    if len(value) > MAX_ALLOWED_IPS:
        raise ValueError(f"at most {MAX_ALLOWED_IPS} entries")
    clean = []
    for entry in value:
        try:
            clean.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{entry[:60]!r} is not an IP address or network") from None
    return sorted(set(clean))


class IntegrationCreate(BaseModel):
    """A new integration: a tenant's account with one provider."""

    model_config = ConfigDict(extra="forbid")

    connector: ConnectorKey = Field(description="a connector key from GET /api/v1/connectors")
    name: IntegrationName = Field(description="unique in the tenant, e.g. 'M-Pesa paybill 123456'")
    config: dict[str, Any] = Field(default_factory=dict, description=_CONFIG)
    credentials: dict[str, Any] = Field(default_factory=dict, description=_CREDENTIALS)
    allowed_ips: list[str] = Field(default_factory=list, description=_IPS)

    _ips = field_validator("allowed_ips")(_networks)


class IntegrationUpdate(BaseModel):
    """Changes to an integration; absent (or null) fields stay as they are. ``config`` and
    ``credentials`` replace the stored ones whole (credentials are sealed anew; the webhook URL
    stays the same)."""

    model_config = ConfigDict(extra="forbid")

    name: IntegrationName | None = None
    status: IntegrationStatus | None = None
    config: dict[str, Any] | None = Field(default=None, description=_CONFIG)
    credentials: dict[str, Any] | None = Field(default=None, description=_CREDENTIALS)
    allowed_ips: list[str] | None = Field(default=None, description=_IPS)

    _ips = field_validator("allowed_ips")(_networks)


class IntegrationOut(BaseModel):
    """An integration as the API shows it: no credential value, ever."""

    id: uuid.UUID
    connector: str
    name: str
    status: IntegrationStatus
    config: dict[str, Any]
    credentials_set: list[str] = Field(description="the credential fields that have a value")
    credentials_readable: bool = Field(
        description="false if the credentials were sealed with a secret key this deployment no longer has"
    )
    webhook_url: str | None = Field(
        description="where the provider must send callbacks: paste it into the provider's portal"
    )
    allowed_ips: list[str]
    checked_at: datetime | None
    check_error: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str

    @classmethod
    def of(
        cls,
        row: Integration,
        *,
        credentials_set: list[str],
        credentials_readable: bool,
        webhook_url: str | None,
    ) -> IntegrationOut:
        return cls(
            id=row.id,
            connector=row.connector,
            name=row.name,
            status=row.status,
            config=row.config,
            credentials_set=credentials_set,
            credentials_readable=credentials_readable,
            webhook_url=webhook_url,
            allowed_ips=list(row.allowed_ips),
            checked_at=row.checked_at,
            check_error=row.check_error,
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=row.created_by,
        )


class CheckOut(BaseModel):
    """The outcome of ``POST /integrations/{id}/check``: did the provider accept the credentials?"""

    ok: bool
    error: str | None = Field(description="the provider's refusal, in words safe to show")
    error_code: str | None = Field(description="connector_auth_failed, connector_unavailable…")
    checked_at: datetime


class ActionOut(BaseModel):
    """One action of a connector: what the builder's form and an LLM tool are made from."""

    name: str
    title: str
    description: str
    effect: Effect
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class ConnectorOut(BaseModel):
    """A registered connector and everything it declares."""

    key: str
    version: str
    title: str
    description: str
    countries: list[str]
    webhook_auth: WebhookAuth | None
    webhook_events: list[str]
    credentials_schema: dict[str, Any]
    config_schema: dict[str, Any]
    actions: list[ActionOut]

    @classmethod
    def of(cls, connector: Connector) -> ConnectorOut:
        kind = type(connector)
        return cls(
            key=kind.key,
            version=kind.version,
            title=kind.title,
            description=kind.description,
            countries=list(kind.countries),
            webhook_auth=kind.webhook_auth,
            webhook_events=list(kind.webhook_events),
            credentials_schema=kind.credentials_model.model_json_schema(),
            config_schema=kind.config_model.model_json_schema(),
            actions=[
                ActionOut(
                    name=action.name,
                    title=action.title,
                    description=action.description,
                    effect=action.effect,
                    input_schema=action.input_schema(),
                    output_schema=action.output_schema(),
                )
                for action in kind.actions()
            ],
        )


class ConnectorsOut(BaseModel):
    connectors: list[ConnectorOut]


__all__ = [
    "MAX_NAME_LENGTH",
    "ActionOut",
    "CheckOut",
    "ConnectorOut",
    "ConnectorsOut",
    "IntegrationCreate",
    "IntegrationOut",
    "IntegrationStatus",
    "IntegrationUpdate",
]
