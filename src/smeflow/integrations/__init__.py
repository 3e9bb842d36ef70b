"""Integrations: a tenant's connected provider accounts (credentials in the vault), the webhook
ingress and its inbox, and the outbox of outbound side effects. See ``models.py``.

Key contracts (details in each module): credentials are sealed by the :class:`Vault` and opened
only in memory, for a connector (:func:`open_integration`); no audit record, log line or API
answer holds a credential value; every operation is bound to one tenant, and another tenant's
integration is not found; ``smeflow keys rotate`` (:func:`rotate_keys`) re-seals what an older
secret key sealed.
"""

from smeflow.integrations._check import CheckResult, check_integration
from smeflow.integrations._loading import WEBHOOK_PATH, sealed_of, to_connector_integration, webhook_url
from smeflow.integrations._rotation import RotationReport, rotate_keys
from smeflow.integrations._vault import Sealed, Vault
from smeflow.integrations.service import (
    ConnectorNotInstalled,
    IntegrationDisabled,
    IntegrationOutdated,
    OpenedIntegration,
    create_integration,
    delete_integration,
    describe,
    get_integration,
    list_integrations,
    open_integration,
    open_row,
    update_integration,
)

__all__ = [
    "WEBHOOK_PATH",
    "CheckResult",
    "ConnectorNotInstalled",
    "IntegrationDisabled",
    "IntegrationOutdated",
    "OpenedIntegration",
    "RotationReport",
    "Sealed",
    "Vault",
    "check_integration",
    "create_integration",
    "delete_integration",
    "describe",
    "get_integration",
    "list_integrations",
    "open_integration",
    "open_row",
    "rotate_keys",
    "sealed_of",
    "to_connector_integration",
    "update_integration",
    "webhook_url",
]
