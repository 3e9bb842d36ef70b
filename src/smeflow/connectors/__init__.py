"""Connectors: SMEFlow's SDK for outside systems, the built-in connectors (M-Pesa Daraja,
Paystack, Flutterwave, Africa's Talking, WhatsApp Cloud API, HTTP, email) and their sandboxes.

Key contracts (details in each module):

* A connector declares everything (:mod:`._sdk`): key, version, credentials and config models,
  ``check()``, actions with pydantic input/output and an effect, webhook and polling triggers.
  The registry (:mod:`._registry`) validates each one when it is registered; third parties plug
  in through the ``smeflow.connectors`` entry-point group.
* Connectors keep no tenant state and touch no database: the caller (the engine, the webhook
  ingress) hands them an :class:`Integration` (config + decrypted credentials) and an HTTP
  client from :class:`HttpFactory` (timeouts, safe retries, per-integration rate limits, secret
  redaction, the integration's base URL).
* Errors are :class:`AuthFailed`, :class:`Rejected` (not retryable), :class:`RateLimited`,
  :class:`Unavailable` (retryable) and :class:`InvalidResponse`, each with a message safe to
  show a tenant and, when there is one, the provider's own code.
* ``smeflow.connectors.testing`` is the conformance suite every connector's tests run.
"""

from smeflow.connectors._builtins import builtin_connectors, default_registry
from smeflow.connectors._errors import (
    AuthFailed,
    ConnectorError,
    FailureType,
    InvalidResponse,
    RateLimited,
    Rejected,
    Unavailable,
)
from smeflow.connectors._http import ConnectorHttp, HttpFactory, Retry, TokenBucket, json_body, secret_values
from smeflow.connectors._registry import (
    ENTRY_POINT_GROUP,
    ConnectorInvalid,
    ConnectorRegistry,
    entry_point_connectors,
    problems_of,
)
from smeflow.connectors._sdk import (
    EVENT_KINDS,
    ActionContext,
    ActionDef,
    Connector,
    ConnectorConfig,
    Effect,
    InboundRequest,
    Integration,
    NoCredentials,
    PollingDef,
    PollResult,
    WebhookAuth,
    WebhookEvent,
    WebhookReply,
    action,
    polling,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "EVENT_KINDS",
    "ActionContext",
    "ActionDef",
    "AuthFailed",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorHttp",
    "ConnectorInvalid",
    "ConnectorRegistry",
    "Effect",
    "FailureType",
    "HttpFactory",
    "InboundRequest",
    "Integration",
    "InvalidResponse",
    "NoCredentials",
    "PollResult",
    "PollingDef",
    "RateLimited",
    "Rejected",
    "Retry",
    "TokenBucket",
    "Unavailable",
    "WebhookAuth",
    "WebhookEvent",
    "WebhookReply",
    "action",
    "builtin_connectors",
    "default_registry",
    "entry_point_connectors",
    "json_body",
    "polling",
    "problems_of",
    "secret_values",
]
