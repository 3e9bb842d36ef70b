"""M-Pesa (Safaricom Daraja): the ``mpesa`` connector and its sandbox.

Key contracts:

* Money is ``amount_minor`` in cents of KES; Daraja takes whole shillings, so any other currency
  or a fraction of a shilling is :class:`~smeflow.connectors.Rejected` before a call is made.
  Phones are E.164 in and out; Daraja's ``2547…`` form exists only at the edge.
* One OAuth token per integration, cached until ~60 s before it expires (``expires_in`` as a
  number or a string); a token Daraja calls invalid (it invalidates the previous one whenever a
  new one is issued) is replaced once and the refused call sent again.
* STK Push has no idempotency field at Daraja: a push is sent once (never retried by the HTTP
  client); a lost answer or callback is reconciled with ``stk_query``. B2C sends the
  idempotency key as ``OriginatorConversationID``; a repeat is recognised (``duplicate``).
* Daraja signs no callback (``webhook_auth = "token"``): the ingress checks the URL's token.
  Callbacks all come to the integration's ``webhook_url``; the URLs the connector registers carry
  ``type=…`` so C2B validation, confirmation and B2C timeouts are told apart.
* Event ids: ``stk:<CheckoutRequestID>:<ResultCode>``, ``b2c:<OriginatorConversationID>:<code>``,
  the C2B ``TransID`` (confirmation) and ``c2b-validation:<TransID>``.
"""

from smeflow.connectors.mpesa._connector import Mpesa, expires_in_seconds, originator_id
from smeflow.connectors.mpesa._models import (
    B2cPaymentIn,
    B2cPaymentOut,
    C2bRegisterIn,
    C2bRegisterOut,
    MpesaConfig,
    MpesaCredentials,
    StkPushIn,
    StkPushOut,
    StkQueryIn,
    StkQueryOut,
)
from smeflow.connectors.mpesa._sandbox import MpesaSandbox
from smeflow.connectors.mpesa._sandbox_rules import (
    B2C_MAGIC,
    SANDBOX_B2C_SHORTCODE,
    SANDBOX_CONSUMER_KEY,
    SANDBOX_CONSUMER_SECRET,
    SANDBOX_INITIATOR,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    STK_MAGIC,
    TEST_MSISDN,
)

__all__ = [
    "B2C_MAGIC",
    "SANDBOX_B2C_SHORTCODE",
    "SANDBOX_CONSUMER_KEY",
    "SANDBOX_CONSUMER_SECRET",
    "SANDBOX_INITIATOR",
    "SANDBOX_PASSKEY",
    "SANDBOX_SHORTCODE",
    "STK_MAGIC",
    "TEST_MSISDN",
    "B2cPaymentIn",
    "B2cPaymentOut",
    "C2bRegisterIn",
    "C2bRegisterOut",
    "Mpesa",
    "MpesaConfig",
    "MpesaCredentials",
    "MpesaSandbox",
    "StkPushIn",
    "StkPushOut",
    "StkQueryIn",
    "StkQueryOut",
    "expires_in_seconds",
    "originator_id",
]
