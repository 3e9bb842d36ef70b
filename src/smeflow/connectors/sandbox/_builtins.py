"""The built-in sandboxes, by provider key (the same key as the provider's connector)."""

from __future__ import annotations

from collections.abc import Callable

from smeflow.connectors.sandbox._base import Sandbox


def builtin_sandboxes() -> dict[str, Callable[[], Sandbox]]:
    """A factory for each built-in sandbox, by key."""
    from smeflow.connectors.flutterwave import FlutterwaveSandbox
    from smeflow.connectors.paystack import PaystackSandbox

    return {"paystack": PaystackSandbox, "flutterwave": FlutterwaveSandbox}


__all__ = ["builtin_sandboxes"]
