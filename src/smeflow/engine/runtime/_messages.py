"""Message senders: what a ``send_message`` step sends through. A sender serves one channel
(``whatsapp``, ``sms``, ``ussd``, ``web``, ``voice``, ``email``) and turns an
:class:`OutboundMessage` into a :class:`SentMessage`. The channels work implements
:class:`MessageSender` per provider; the runtime installs none by default, so a workflow that
sends on a channel with no sender is refused when compiled (naming the step).

Key contracts:

* Sending is a **write** effect: the message carries the idempotency key ``<run>:<node>`` (pass it
  to the provider where it deduplicates), the result is journaled before the step goes on, and a
  re-executed run never sends a journaled message again (the exact guarantee is the package's).
* Templates: the runtime has no message catalog yet, so it passes the template's name and its
  resolved variables to the sender, which renders (or has the provider render) it; a sender whose
  ``renders_templates`` is false only sends texts, and a template step on its channel is refused
  when compiled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(frozen=True, slots=True)
class SendCall:
    """Where the message is sent from: whose run, which step, an HTTP client."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    node_id: str
    http: httpx.AsyncClient


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to send: a ``text``, or a ``template`` with its ``variables``; the language
    if known; the idempotency key (``<run>:<node>``) that makes sending it twice harmless."""

    channel: str
    to: str
    idempotency_key: str
    text: str | None = None
    template: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What the channel answered: its id for the message (if any) and its status (``sent``,
    ``queued``, ``delivered``…)."""

    message_id: str | None
    status: str = "sent"


class MessageSender(Protocol):
    """A sender for one channel. Raise :class:`StepFailed` for a message the provider refuses and
    :class:`TransientStepError` for a failure that may pass (retried by the step's policy, with
    the same idempotency key)."""

    @property
    def channel(self) -> str: ...

    @property
    def renders_templates(self) -> bool: ...

    async def send(self, call: SendCall, message: OutboundMessage) -> SentMessage: ...


class SenderRegistry:
    """Senders by channel."""

    def __init__(self, senders: Iterable[MessageSender] = ()) -> None:
        self._senders: dict[str, MessageSender] = {}
        for sender in senders:
            self.register(sender)

    def register(self, sender: MessageSender) -> None:
        if sender.channel in self._senders:
            raise ValueError(f"a sender for the {sender.channel} channel is already registered")
        self._senders[sender.channel] = sender

    def get(self, channel: str) -> MessageSender | None:
        return self._senders.get(channel)

    def channels(self) -> list[str]:
        return sorted(self._senders)


__all__ = ["MessageSender", "OutboundMessage", "SendCall", "SenderRegistry", "SentMessage"]
