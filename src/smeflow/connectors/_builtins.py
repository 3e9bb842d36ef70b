"""The built-in connectors, registered explicitly (no import-time side effects)."""

from __future__ import annotations

from smeflow.connectors._registry import ConnectorRegistry, entry_point_connectors
from smeflow.connectors._sdk import Connector


def builtin_connectors() -> list[Connector]:
    """One instance of each built-in connector."""
    from smeflow.connectors.africastalking import AfricasTalking
    from smeflow.connectors.email import Email
    from smeflow.connectors.flutterwave import Flutterwave
    from smeflow.connectors.httpcall import Http
    from smeflow.connectors.llm import Anthropic, Gemini, OpenAi, OpenAiCompatible
    from smeflow.connectors.mpesa import Mpesa
    from smeflow.connectors.paystack import Paystack
    from smeflow.connectors.whatsapp import WhatsApp

    return [
        Mpesa(),
        Paystack(),
        Flutterwave(),
        WhatsApp(),
        AfricasTalking(),
        Http(),
        Email(),
        OpenAi(),
        Anthropic(),
        Gemini(),
        OpenAiCompatible(),
    ]


def default_registry(*, plugins: bool = True) -> ConnectorRegistry:
    """The built-ins plus (with ``plugins``) every installed entry-point connector, validated."""
    connectors = builtin_connectors()
    if plugins:
        connectors += entry_point_connectors()
    return ConnectorRegistry(connectors)


__all__ = ["builtin_connectors", "default_registry"]
