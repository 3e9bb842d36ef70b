"""Integrations: a tenant's connected provider accounts (credentials in the vault), the webhook
ingress and its inbox, and the outbox of outbound side effects. See ``models.py``.

Key contracts (details in each module): credentials are sealed by the :class:`Vault` and opened
only in memory, for a connector (:func:`open_integration`); no audit record, log line or API
answer holds a credential value; every operation is bound to one tenant, and another tenant's
integration is not found; ``smeflow keys rotate`` (:func:`rotate_keys`) re-seals what an older
secret key sealed. The webhook ingress (``_ingress.py``: what a delivery must pass, what is stored
before the answer), the inbox (``_inbox.py``: each event processed once, in the transaction that
claims it) and the outbox (``_outbox.py``: each outbound call delivered once per idempotency key,
never twice at once) have their own.
"""

from smeflow.integrations._check import CheckResult, check_integration
from smeflow.integrations._inbox import (
    HANDLERS_ENTRY_POINT_GROUP,
    Handler,
    InboxWorker,
    handler_for,
    installed_handlers,
)
from smeflow.integrations._ingress import (
    INBOX_CHANNEL,
    Arrival,
    Ingress,
    WebhookForged,
    WebhookMalformed,
    WebhookNotFound,
    WebhookSourceRefused,
    cache_key,
    stored_headers,
)
from smeflow.integrations._loading import WEBHOOK_PATH, sealed_of, to_connector_integration, webhook_url
from smeflow.integrations._outbox import OUTBOX_CHANNEL, OutboxWorker, enqueue
from smeflow.integrations._polling import PollingWorker
from smeflow.integrations._rotation import RotationReport, rotate_keys
from smeflow.integrations._vault import Sealed, Vault
from smeflow.integrations._work import Backoff
from smeflow.integrations._workers import integration_workers
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
    "HANDLERS_ENTRY_POINT_GROUP",
    "INBOX_CHANNEL",
    "OUTBOX_CHANNEL",
    "WEBHOOK_PATH",
    "Arrival",
    "Backoff",
    "CheckResult",
    "ConnectorNotInstalled",
    "Handler",
    "InboxWorker",
    "Ingress",
    "IntegrationDisabled",
    "IntegrationOutdated",
    "OpenedIntegration",
    "OutboxWorker",
    "PollingWorker",
    "RotationReport",
    "Sealed",
    "Vault",
    "WebhookForged",
    "WebhookMalformed",
    "WebhookNotFound",
    "WebhookSourceRefused",
    "cache_key",
    "check_integration",
    "create_integration",
    "delete_integration",
    "describe",
    "enqueue",
    "get_integration",
    "handler_for",
    "installed_handlers",
    "integration_workers",
    "list_integrations",
    "open_integration",
    "open_row",
    "rotate_keys",
    "sealed_of",
    "stored_headers",
    "to_connector_integration",
    "update_integration",
    "webhook_url",
]
