"""Provider sandboxes (see :mod:`._base`): ``smeflow sandbox [PROVIDER…]`` serves them."""

from smeflow.connectors.sandbox._base import (
    Callback,
    CallbackSender,
    Sandbox,
    SandboxServer,
    free_port,
    serving,
)
from smeflow.connectors.sandbox._builtins import builtin_sandboxes, smtp_sandbox

__all__ = [
    "Callback",
    "CallbackSender",
    "Sandbox",
    "SandboxServer",
    "builtin_sandboxes",
    "free_port",
    "serving",
    "smtp_sandbox",
]
