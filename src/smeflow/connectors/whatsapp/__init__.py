"""WhatsApp Business Cloud API (Meta Graph): the ``whatsapp`` connector and its sandbox.

Key contracts:

* Actions: ``send_text``, ``send_template``, ``send_interactive`` (write, each returns the
  wamid), ``mark_read`` (write) and ``phone_number`` (read). Template ``currency`` parameters
  take minor units and are sent as Graph's ``amount_1000`` (:func:`amount_1000`). Phones in
  inputs are E.164; Graph gets the digits. A write's idempotency key goes in
  ``biz_opaque_callback_data``, which Meta echoes in the message's status notifications (the
  Cloud API has no idempotency key of its own, so sends are never retried).
* Graph errors become typed errors with the Graph code as ``provider_code``: 190 →
  :class:`~smeflow.connectors.AuthFailed`; 131047 (outside the 24-hour window: send a template)
  and 131026 (undeliverable) → :class:`~smeflow.connectors.Rejected`; 130429 / 131056 →
  :class:`~smeflow.connectors.RateLimited`; 5xx → :class:`~smeflow.connectors.Unavailable`.
* Webhooks are ``signature``-authenticated (``X-Hub-Signature-256`` over the raw body, with
  the app secret, constant-time); the ``GET`` handshake answers ``hub.challenge`` as plain text
  only for ``hub.mode=subscribe`` with the verify token, else 403.
* Events: ``message.received`` (``event_id`` = wamid) and ``message.status`` (``event_id`` =
  ``wamid:status``, ``reference`` = wamid). :func:`window_open` is the 24-hour rule the channels
  layer applies before a free-form send (see :mod:`._window`).
"""

from smeflow.connectors.whatsapp._connector import WhatsApp, amount_1000
from smeflow.connectors.whatsapp._models import (
    Button,
    ListRow,
    ListSection,
    SendInteractiveIn,
    SendOut,
    SendTemplateIn,
    SendTextIn,
    TemplateComponent,
    TemplateParameter,
    WhatsAppConfig,
    WhatsAppCredentials,
)
from smeflow.connectors.whatsapp._sandbox import WhatsAppSandbox
from smeflow.connectors.whatsapp._webhook import SIGNATURE_HEADER, sign
from smeflow.connectors.whatsapp._window import WINDOW, window_open

__all__ = [
    "SIGNATURE_HEADER",
    "WINDOW",
    "Button",
    "ListRow",
    "ListSection",
    "SendInteractiveIn",
    "SendOut",
    "SendTemplateIn",
    "SendTextIn",
    "TemplateComponent",
    "TemplateParameter",
    "WhatsApp",
    "WhatsAppConfig",
    "WhatsAppCredentials",
    "WhatsAppSandbox",
    "amount_1000",
    "sign",
    "window_open",
]
