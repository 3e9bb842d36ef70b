"""Payments: one state machine per payment (created → pending → succeeded | failed | reversed), fed by
provider callbacks and confirmed by status queries before value is released; reconciliation for
callbacks that never come. See ``_states.py``, ``service.py`` and ``_flow.py``."""

from smeflow.payments._flow import Gateway, PaymentFlow, PaymentNotYetKnown, Started
from smeflow.payments._gateways import FlutterwaveGateway, MpesaGateway, PaystackGateway, builtin_gateways
from smeflow.payments._states import TRANSITIONS, Decision, Observed, next_status

__all__ = [
    "FlutterwaveGateway",
    "MpesaGateway",
    "PaystackGateway",
    "builtin_gateways",
    "TRANSITIONS",
    "Decision",
    "Gateway",
    "Observed",
    "PaymentFlow",
    "PaymentNotYetKnown",
    "Started",
    "next_status",
]
