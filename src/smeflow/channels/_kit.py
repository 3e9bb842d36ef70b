"""The channels of a process (API or worker), put together once from its runtime's integrations:
the ``send_message`` senders of ``whatsapp``, ``sms`` and ``web``, the inbox handler of
``message.received``, and the :class:`Delivery` staff replies go through.

Key contracts: the inbox handler runs in the inbox event's transaction (see
:mod:`smeflow.integrations`): the conversation, its message and the run it starts (or the event it
emits) commit with the event's ``processed`` mark, or not at all. An event of another channel
(USSD, voice) is not a conversation message and is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.channels._inbound import Inbound, receive
from smeflow.channels._senders import ConversationSender, Delivery, conversation_senders
from smeflow.connectors import ConnectorRegistry, HttpFactory
from smeflow.db import Database
from smeflow.engine.runtime import RunQueue, SenderRegistry
from smeflow.integrations import Vault
from smeflow.integrations.models import InboxEvent

logger = logging.getLogger(__name__)

_PROVIDER_CHANNELS = ("whatsapp", "sms")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def inbound_of(event: InboxEvent) -> Inbound | None:
    """The customer message a ``message.received`` inbox event carries; None for another channel."""
    data = event.data or {}
    channel, sender = data.get("channel"), data.get("from")
    if channel not in _PROVIDER_CHANNELS or not isinstance(sender, str) or not sender:
        return None
    text = data.get("text")
    name = data.get("name")
    kept = {k: v for k, v in data.items() if k not in ("channel", "from", "text", "name")}
    return Inbound(
        channel=str(channel),
        address=sender,
        text=text if isinstance(text, str) else None,
        provider_message_id=str(data.get("provider_message_id") or event.event_id),
        integration_id=event.integration_id,
        name=name if isinstance(name, str) else None,
        at=_when(data.get("timestamp")),
        payload=kept,
    )


@dataclass(slots=True)
class ChannelKit:
    """What a process needs for conversations (see the module docstring)."""

    delivery: Delivery
    #: the process's run queue (set once it is open), for the runs messages start
    queue: Callable[[], RunQueue | None]

    @classmethod
    def build(
        cls,
        db: Database,
        registry: ConnectorRegistry,
        vault: Vault,
        http: HttpFactory,
        *,
        queue: Callable[[], RunQueue | None],
        public_url: str | None = None,
    ) -> ChannelKit:
        """The channels over a process's connectors, vault and connector HTTP; ``queue`` gives
        the run queue when a message arrives."""
        return cls(Delivery(db, registry, vault, http, public_url=public_url), queue)

    def senders(self) -> list[ConversationSender]:
        """The ``whatsapp``, ``sms`` and ``web`` senders."""
        return conversation_senders(self.delivery)

    def install(self, senders: SenderRegistry) -> None:
        """Register the senders in a runtime's registry (a channel that has one already keeps it)."""
        for sender in self.senders():
            if senders.get(sender.channel) is None:
                senders.register(sender)

    def handlers(self) -> dict[str, Callable[[AsyncSession, InboxEvent], Awaitable[None]]]:
        """The inbox handlers: ``message.received`` → the conversation and its workflow."""
        return {"message.received": self.on_message}

    async def on_message(self, session: AsyncSession, event: InboxEvent) -> None:
        """Receive a ``message.received`` inbox event (in its transaction)."""
        inbound = inbound_of(event)
        if inbound is None:
            channel = (event.data or {}).get("channel")
            logger.info("a message.received event of channel %r is not a conversation message", channel)
            return
        await receive(session, event.tenant_id, inbound, queue=self.queue())


__all__ = ["ChannelKit", "inbound_of"]
