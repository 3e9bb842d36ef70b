"""Paystack: checkout (initialize + verify), refunds, transfers (payouts) and signed webhooks,
and a sandbox that speaks Paystack's protocol (see ``PaystackSandbox.scenarios``).

Key contracts:

* Amounts are integer subunits at Paystack (kobo, pesewas, cents) and integer minor units in
  SMEFlow: the same number, no conversion, for NGN, GHS, ZAR, KES and USD.
* A transaction's and a transfer's ``reference`` is :func:`reference_for` the step's idempotency
  key (``sf-`` + 40 hex digits): a repeated initialize is refused by Paystack as a duplicate, a
  repeated transfer returns the transfer Paystack already has.
* Only ``verify_transaction`` with status ``succeeded`` for the expected amount and currency
  grants value (pass ``expected_amount_minor`` / ``expected_currency`` to have it checked).
* Webhooks: ``x-paystack-signature`` is the hex HMAC-SHA512 of the raw body keyed with the secret
  key, compared in constant time. Paystack sends webhooks for successful charges only: failures
  are found by verifying. Event ids are ``<event>:<data.id>`` (one per event, for dedupe).
* ``transfer.reversed`` becomes ``transfer.failed`` with ``provider_code`` ``reversed`` (SMEFlow
  has no transfer-reversed kind).
"""

from typing import TYPE_CHECKING, Any

from smeflow.connectors.paystack._connector import SIGNATURE_HEADER, Paystack, reference_for, sign
from smeflow.connectors.paystack._models import (
    InitializeIn,
    InitializeOut,
    PaystackCredentials,
    RecipientIn,
    RecipientOut,
    RefundIn,
    RefundOut,
    TransferIn,
    TransferOut,
    VerifyIn,
    VerifyOut,
)

if TYPE_CHECKING:
    from smeflow.connectors.paystack._sandbox import PaystackSandbox


def __getattr__(name: str) -> Any:
    # the sandbox (Starlette, uvicorn) loads only when asked for: the connector does not need it,
    # and smeflow.connectors.sandbox's registry may import this package while it loads
    if name == "PaystackSandbox":
        from smeflow.connectors.paystack._sandbox import PaystackSandbox

        return PaystackSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SIGNATURE_HEADER",
    "InitializeIn",
    "InitializeOut",
    "Paystack",
    "PaystackCredentials",
    "PaystackSandbox",
    "RecipientIn",
    "RecipientOut",
    "RefundIn",
    "RefundOut",
    "TransferIn",
    "TransferOut",
    "VerifyIn",
    "VerifyOut",
    "reference_for",
    "sign",
]
