"""The built-in sandboxes, by provider key (the same key as the provider's connector; ``llm``
serves the ``openai`` and ``openai_compatible`` connectors).

Most are HTTP sandboxes (:class:`Sandbox`, served by :class:`SandboxServer`); the email one is
an SMTP server of its own (:class:`smeflow.connectors.email.SmtpSandbox`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smeflow.connectors.sandbox._base import Sandbox


def builtin_sandboxes() -> dict[str, Callable[[], Sandbox]]:
    """A factory for each built-in HTTP sandbox, by key."""
    from smeflow.connectors.africastalking import AfricasTalkingSandbox
    from smeflow.connectors.flutterwave import FlutterwaveSandbox
    from smeflow.connectors.httpcall import HttpEchoSandbox
    from smeflow.connectors.mpesa import MpesaSandbox
    from smeflow.connectors.paystack import PaystackSandbox
    from smeflow.connectors.sandbox.llm import LlmSandbox
    from smeflow.connectors.whatsapp import WhatsAppSandbox

    return {
        "mpesa": MpesaSandbox,
        "paystack": PaystackSandbox,
        "flutterwave": FlutterwaveSandbox,
        "africastalking": AfricasTalkingSandbox,
        "whatsapp": WhatsAppSandbox,
        "api": HttpEchoSandbox,
        "llm": LlmSandbox,
    }


def smtp_sandbox(port: int = 0) -> Any:
    """The SMTP sandbox (not yet started)."""
    from smeflow.connectors.email import SmtpSandbox

    return SmtpSandbox(port=port)


__all__ = ["builtin_sandboxes", "smtp_sandbox"]
