"""Flutterwave v3: standard (hosted) checkout, verification by transaction id and by tx_ref,
and ``charge.completed`` webhooks, with a sandbox that speaks the v3 protocol (see
``FlutterwaveSandbox.scenarios``). Only v3 (``api.flutterwave.com/v3``): v4's shapes differ.

Key contracts:

* Flutterwave speaks **major units** (``"1500.50"`` KES, ``"5000"`` UGX): amounts are converted at
  the edge with :mod:`smeflow.core.money`, exactly (answers are read with ``Decimal``, never float);
  an amount with more decimals than its currency allows is refused, not rounded.
* ``tx_ref`` is :func:`tx_ref_for` the step's idempotency key (``sf-`` + 40 hex digits): a
  repeated ``create_payment`` sends the same tx_ref and is refused as a duplicate.
* Verification grants value only when the caller's expectations hold: the currency is the one
  asked and the amount at least the one asked (Flutterwave's own checklist; a customer can pay
  less on a checkout page). A mismatch is :class:`Rejected` with ``extra={"check": ...}``.
* Webhooks: a delivery with ``flutterwave-signature`` (base64 HMAC-SHA256 of the raw body keyed
  with the secret hash) must match it; one without is accepted on the legacy ``verif-hash``
  (equal to the secret hash) unless the config sets ``require_signature``. Constant-time
  comparisons. ``charge.completed`` is branched on ``data.status``, never on the event name.
"""

from typing import TYPE_CHECKING, Any

from smeflow.connectors.flutterwave._connector import (
    HASH_HEADER,
    SIGNATURE_HEADER,
    Flutterwave,
    major_text,
    signature,
    tx_ref_for,
)
from smeflow.connectors.flutterwave._models import (
    CreatePaymentIn,
    CreatePaymentOut,
    FlutterwaveConfig,
    FlutterwaveCredentials,
    VerifyByReferenceIn,
    VerifyIn,
    VerifyOut,
)

if TYPE_CHECKING:
    from smeflow.connectors.flutterwave._sandbox import FlutterwaveSandbox


def __getattr__(name: str) -> Any:
    # the sandbox (Starlette, uvicorn) loads only when asked for: the connector does not need it,
    # and smeflow.connectors.sandbox's registry may import this package while it loads
    if name == "FlutterwaveSandbox":
        from smeflow.connectors.flutterwave._sandbox import FlutterwaveSandbox

        return FlutterwaveSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HASH_HEADER",
    "SIGNATURE_HEADER",
    "CreatePaymentIn",
    "CreatePaymentOut",
    "Flutterwave",
    "FlutterwaveConfig",
    "FlutterwaveCredentials",
    "FlutterwaveSandbox",
    "VerifyByReferenceIn",
    "VerifyIn",
    "VerifyOut",
    "major_text",
    "signature",
    "tx_ref_for",
]
