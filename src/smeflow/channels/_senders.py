"""Outbound messages: :class:`Delivery` sends a message into a conversation through its channel,
and :class:`ConversationSender` is the engine's ``send_message`` sender of one channel
(``whatsapp``, ``sms``, ``web``) built on it.

Key contracts:

* WhatsApp and SMS go through the conversation's integration with the connector's send action
  (``whatsapp.send_text`` / ``whatsapp.send_template``, ``africastalking.send_sms``), carrying
  the idempotency key (``<run>:<node>`` for a workflow step); the provider's message id is stored
  with the outgoing message, unique per conversation, so a retried send is stored once.
* Web chat messages are stored and announced with ``pg_notify`` on :data:`CHAT_CHANNEL`
  (``"<tenant> <conversation> <message>"``) in the same transaction: every API process pushes
  them to the visitor's open connections (:mod:`._webchat`), and a visitor who reconnects gets
  what they missed from the stored messages.
* WhatsApp's 24-hour window: free text only within 24 hours of the customer's last message, else
  :class:`WindowClosed` before anything is sent (a template is needed; a workflow step fails
  with that message, a staff reply is refused with it). Templates go to WhatsApp only.
* A ``send_message`` step finds its conversation from its ``to``: a conversation id, or the
  customer's address (the conversation of the run's ``input.conversation_id`` when it has that
  address, else the newest conversation of that address on the step's channel). A WhatsApp or
  SMS message to a number with no conversation yet (a reminder: the workflow writes first)
  opens one through the tenant's only active integration of the channel (WhatsApp then allows
  templates only, the customer not having written); with none, or several, the step fails
  saying so.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.channels._conversations import add_message, conversation_for, get_conversation
from smeflow.channels.models import Conversation, ConversationMessage
from smeflow.connectors import ActionContext, ConnectorError, ConnectorRegistry, HttpFactory
from smeflow.connectors.whatsapp import window_open
from smeflow.core import utcnow
from smeflow.core.phones import PhoneError, to_e164
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import Run
from smeflow.engine.runtime import OutboundMessage, SendCall, SentMessage, StepFailed, TransientStepError
from smeflow.errors import Conflict, SMEFlowError, Unavailable
from smeflow.integrations import Vault, open_integration
from smeflow.integrations.models import Integration as IntegrationRow

logger = logging.getLogger(__name__)

CHAT_CHANNEL = "smeflow_chat"
_CONNECTOR = {"whatsapp": "whatsapp", "sms": "africastalking"}


class WindowClosed(Conflict):
    """Free text to a WhatsApp customer more than 24 hours after their last message."""

    code = "whatsapp_window_closed"
    title = "The WhatsApp 24-hour window is closed"


@dataclass(frozen=True, slots=True)
class Content:
    """What to send: a ``text``, or a ``template`` with its ``variables`` (WhatsApp only)."""

    text: str | None = None
    template: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    language: str | None = None


def _template_components(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """The template's variables, in order, as its body parameters."""
    if not variables:
        return []
    return [{"type": "body", "parameters": [{"type": "text", "text": str(v)} for v in variables.values()]}]


class Delivery:
    """Sends messages into conversations (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        registry: ConnectorRegistry,
        vault: Vault,
        http: HttpFactory,
        *,
        public_url: str | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.vault = vault
        self.http = http
        self.public_url = public_url

    async def send(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        content: Content,
        *,
        key: str,
        sent_by: str,
        audit: Actor | None = None,
    ) -> ConversationMessage:
        """Send ``content`` into the conversation with idempotency key ``key`` and store it as an
        outgoing message (by ``sent_by``: ``run:<id>``, ``user:<id>``), audited
        ``conversation.message_sent`` by ``audit`` (a person's reply) in the same transaction.
        :class:`WindowClosed`,
        :class:`Conflict` for a template on a channel without them, :class:`NotFound`, or the
        connector's error (nothing stored then)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            conversation = await get_conversation(session, tenant_id, conversation_id)
            self._check(conversation, content)
        provider_id, status = await self._provider_send(conversation, content, key)
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            locked = await get_conversation(session, tenant_id, conversation_id, lock=True)
            payload: dict[str, Any] = {"idempotency_key": key}
            if content.template is not None:
                payload |= {"template": content.template, "variables": content.variables}
            stored = await add_message(
                session,
                locked,
                "out",
                content.text,
                provider_message_id=provider_id,
                status=status,
                payload=payload,
                sent_by=sent_by,
            )
            if stored is None:  # sent before with this key: the message already stored
                stored = await _by_provider_id(session, locked, provider_id)
            else:
                if locked.channel == "web":
                    await session.execute(
                        text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": CHAT_CHANNEL, "payload": f"{tenant_id} {locked.id} {stored.id}"},
                    )
                if audit is not None:
                    await record(
                        session,
                        tenant_id,
                        audit,
                        "conversation.message_sent",
                        "conversation",
                        str(locked.id),
                        {"message_id": str(stored.id), "template": content.template},
                    )
            return stored

    def _check(self, conversation: Conversation, content: Content) -> None:
        if content.template is not None and conversation.channel != "whatsapp":
            raise Conflict(
                f"Templates are sent on WhatsApp only; this is a {conversation.channel} conversation"
            )
        if (
            conversation.channel == "whatsapp"
            and content.text is not None
            and not window_open(conversation.last_inbound_at, utcnow())
        ):
            raise WindowClosed(
                "More than 24 hours have passed since the customer's last WhatsApp message: "
                "only an approved template can be sent now"
            )

    async def _provider_send(self, conversation: Conversation, content: Content, key: str) -> tuple[str, str]:
        """The provider's id for the message and its status."""
        if conversation.channel == "web":
            return f"web:{key}", "sent"
        if conversation.integration_id is None:
            raise Unavailable(f"the {conversation.channel} conversation has no integration to send through")
        async with self.db.transaction(DbScope.tenant(conversation.tenant_id)) as session:
            opened = await open_integration(
                session,
                conversation.tenant_id,
                conversation.integration_id,
                self.registry,
                self.vault,
                public_url=self.public_url,
            )
        if opened.connector.key != _CONNECTOR[conversation.channel]:
            raise Unavailable(
                f"the conversation's integration is a {opened.connector.key} integration, "
                f"which does not send {conversation.channel}"
            )
        ctx = ActionContext(
            opened.integration,
            self.http.for_integration(opened.connector, opened.integration),
            idempotency_key=key,
        )
        data: dict[str, Any]
        if conversation.channel == "sms":
            data = {"to": [conversation.address], "message": content.text}
            answer: Any = await opened.connector.call("send_sms", ctx, data)
            recipient = answer.recipients[0] if answer.recipients else None
            if recipient is None or not recipient.accepted:
                said = recipient.status if recipient is not None else answer.summary
                raise Conflict(f"Africa's Talking did not accept the SMS: {said}")
            return recipient.provider_message_id or f"sms:{key}", recipient.status.lower()
        if content.template is not None:
            data = {
                "to": conversation.address,
                "name": content.template,
                "language": content.language or conversation.language or "en",
                "components": _template_components(content.variables),
            }
            answer = await opened.connector.call("send_template", ctx, data)
        else:
            data = {"to": conversation.address, "text": content.text}
            answer = await opened.connector.call("send_text", ctx, data)
        return str(answer.message_id), "sent"


async def _by_provider_id(
    session: AsyncSession, conversation: Conversation, provider_id: str
) -> ConversationMessage:
    return (
        await session.execute(
            select(ConversationMessage).where(
                ConversationMessage.tenant_id == conversation.tenant_id,
                ConversationMessage.conversation_id == conversation.id,
                ConversationMessage.provider_message_id == provider_id,
            )
        )
    ).scalar_one()


class ConversationSender:
    """The ``send_message`` sender of one channel (see the module docstring)."""

    def __init__(self, channel: str, delivery: Delivery) -> None:
        self._channel = channel
        self.delivery = delivery

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def renders_templates(self) -> bool:
        return self._channel == "whatsapp"

    async def send(self, call: SendCall, message: OutboundMessage) -> SentMessage:
        """Send the step's message into its conversation; :class:`StepFailed` (or
        :class:`TransientStepError` for a failure that may pass) with a readable reason."""
        try:
            conversation_id = await self._conversation_of(call, message)
            stored = await self.delivery.send(
                call.tenant_id,
                conversation_id,
                Content(message.text, message.template, dict(message.variables), message.language),
                key=message.idempotency_key,
                sent_by=f"run:{call.run_id}",
            )
        except ConnectorError as exc:
            kind = TransientStepError if exc.retryable else StepFailed
            raise kind(f"{self._channel}: {exc.message}") from None
        except SMEFlowError as exc:
            raise StepFailed(exc.message) from None
        return SentMessage(stored.provider_message_id, stored.status)

    async def _conversation_of(self, call: SendCall, message: OutboundMessage) -> uuid.UUID:
        async with self.delivery.db.transaction(DbScope.tenant(call.tenant_id)) as session:
            base = select(Conversation.id).where(
                Conversation.tenant_id == call.tenant_id, Conversation.channel == self._channel
            )
            as_id = _uuid(message.to)
            if as_id is not None:
                found = (await session.execute(base.where(Conversation.id == as_id))).scalar_one_or_none()
                if found is not None:
                    return found
            address = message.to
            if self._channel != "web":
                try:
                    address = to_e164(message.to)
                except PhoneError:
                    raise StepFailed(
                        f"{message.to!r} is neither a conversation id nor a phone number in E.164 (+254…)"
                    ) from None
            addressed = base.where(Conversation.address == address)
            run_input = (
                await session.execute(
                    select(Run.input).where(Run.tenant_id == call.tenant_id, Run.id == call.run_id)
                )
            ).scalar_one_or_none()
            of_run = _uuid((run_input or {}).get("conversation_id"))
            if of_run is not None:
                found = (
                    await session.execute(addressed.where(Conversation.id == of_run))
                ).scalar_one_or_none()
                if found is not None:
                    return found
            newest = (
                await session.execute(addressed.order_by(Conversation.updated_at.desc()).limit(1))
            ).scalar_one_or_none()
            if newest is None and self._channel != "web":
                return await self._open(session, call.tenant_id, address)
        if newest is None:
            raise StepFailed(f"there is no web chat conversation with {message.to!r} to send to")
        return newest

    async def _open(self, session: AsyncSession, tenant_id: uuid.UUID, address: str) -> uuid.UUID:
        """A new conversation with ``address`` (the workflow writes first: a reminder) through
        the tenant's only active integration of the channel's connector."""
        connector = _CONNECTOR[self._channel]
        integrations = (
            await session.execute(
                select(IntegrationRow.id).where(
                    IntegrationRow.tenant_id == tenant_id,
                    IntegrationRow.connector == connector,
                    IntegrationRow.status == "active",
                )
            )
        ).all()
        if len(integrations) != 1:
            raise StepFailed(
                f"there is no {self._channel} conversation with {address} yet, and the tenant has "
                + (
                    f"no active {connector} integration"
                    if not integrations
                    else f"{len(integrations)} "
                    f"active {connector} integrations (the customer must write first)"
                )
                + " to start one with"
            )
        conversation = await conversation_for(session, tenant_id, self._channel, integrations[0][0], address)
        return conversation.id


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def conversation_senders(delivery: Delivery) -> list[ConversationSender]:
    """The senders of the whatsapp, sms and web channels."""
    return [ConversationSender(channel, delivery) for channel in ("whatsapp", "sms", "web")]


__all__ = [
    "CHAT_CHANNEL",
    "Content",
    "ConversationSender",
    "Delivery",
    "WindowClosed",
    "conversation_senders",
]
