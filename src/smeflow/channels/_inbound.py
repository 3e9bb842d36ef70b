"""Inbound messages: a customer's message, from a provider's webhook (``message.received`` inbox
events of WhatsApp and Africa's Talking) or from the web chat, goes one way into the
conversation and on to its workflow.

Key contracts:

* :func:`receive` works in the caller's transaction (the inbox event's, or the chat's): it finds
  or opens the conversation (tenant + channel + integration + address) and **locks it**, so the
  messages of one conversation are received one at a time; stores the message (a provider
  message id seen before changes nothing); records the customer's last message time (WhatsApp's
  24-hour window) and name. All of it commits with the inbox event's ``processed`` mark, or not
  at all.
* Then, unless a person has taken the conversation over (``mode`` human: stored only), the
  message goes to the workflow **in order**:

  - if the conversation's run is unfinished (queued, running, waiting) and its workflow version
    has a ``wait`` step for the event ``conversation.message``, the internal event
    ``conversation.message`` is emitted (payload ``conversation_id``, ``text``, ``from``,
    ``channel``, ``language`` when known; key ``conversation-message:<message id>``, so once);
    a wait matching ``event.conversation_id == input.conversation_id`` takes it (also when it
    came while the step before the wait was running: see the engine's event waits);
  - otherwise a new run of the workflow that answers the channel (the tenant's
    ``conversation_workflows`` row) starts, input ``{conversation_id, channel, from, text}``
    (+ ``language`` when known), with ``order_key`` ``conversation:<id>``: the runs of one
    conversation execute one at a time, in the order their messages came.

  Which way it went is kept on the message's payload (``handed_to``: ``run:<id>`` or
  ``event:<id>``; ``problem`` when no workflow answers the channel, or its input schema refuses
  the message: the message is stored all the same).
* Known limit: a message arriving while the conversation's run is more than one step before its
  ``conversation.message`` wait is stored (and emitted) but not seen by that wait.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor
from smeflow.channels._conversations import add_message, conversation_for, conversation_workflow
from smeflow.channels.models import Conversation, ConversationMessage
from smeflow.core import utcnow
from smeflow.engine.models import WorkflowVersion
from smeflow.engine.run_models import Run
from smeflow.engine.runtime import emit_event, start_run
from smeflow.errors import SMEFlowError

if TYPE_CHECKING:
    from smeflow.engine.runtime import RunQueue

logger = logging.getLogger(__name__)

CHANNELS_ACTOR = Actor.system("channels")
MESSAGE_EVENT = "conversation.message"
_UNFINISHED = ("queued", "running", "waiting")
_WAITS_FOR_MESSAGES = [{"kind": "wait", "config": {"event": {"name": MESSAGE_EVENT}}}]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a customer: on which channel (and integration), from which address
    (E.164 phone, or web visitor id), its text, and the provider's id for it."""

    channel: str
    address: str
    text: str | None
    provider_message_id: str | None
    integration_id: uuid.UUID | None = None
    name: str | None = None
    language: str | None = None
    at: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Received:
    """What became of an inbound message: its conversation, the stored message (None for a
    duplicate) and where it went (``run``, ``event``, ``human``, ``nowhere``, ``duplicate``)."""

    conversation: Conversation
    message: ConversationMessage | None
    handed: str


async def _waits_for_messages(session: AsyncSession, conversation: Conversation) -> bool:
    """Whether the conversation's run is unfinished and its version waits for messages."""
    if conversation.run_id is None:
        return False
    found = await session.execute(
        select(Run.id)
        .join(
            WorkflowVersion,
            and_(
                WorkflowVersion.tenant_id == Run.tenant_id,
                WorkflowVersion.workflow_id == Run.workflow_id,
                WorkflowVersion.version == Run.version,
            ),
        )
        .where(
            Run.tenant_id == conversation.tenant_id,
            Run.id == conversation.run_id,
            Run.status.in_(_UNFINISHED),
            WorkflowVersion.definition["nodes"].contains(_WAITS_FOR_MESSAGES),
        )
    )
    return found.first() is not None


def _later(current: datetime | None, new: datetime) -> datetime:
    return new if current is None or new > current else current


async def receive(
    session: AsyncSession, tenant_id: uuid.UUID, inbound: Inbound, *, queue: RunQueue | None
) -> Received:
    """Receive one customer message in the caller's transaction (see the module docstring)."""
    conversation = await conversation_for(
        session, tenant_id, inbound.channel, inbound.integration_id, inbound.address
    )
    at = inbound.at or utcnow()
    message = await add_message(
        session,
        conversation,
        "in",
        inbound.text,
        provider_message_id=inbound.provider_message_id,
        status="received",
        payload=dict(inbound.payload),
        at=at,
    )
    if message is None:
        return Received(conversation, None, "duplicate")
    conversation.last_inbound_at = _later(conversation.last_inbound_at, at)
    if inbound.name:
        conversation.customer_name = inbound.name
    if inbound.language:
        conversation.language = inbound.language
    await session.flush()
    if conversation.mode == "human":
        message.payload = {**message.payload, "handed_to": "staff"}
        await session.flush()
        return Received(conversation, message, "human")
    handed = await _hand_to_workflow(session, conversation, message, inbound, queue)
    return Received(conversation, message, handed)


def _event_payload(conversation: Conversation, inbound: Inbound) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "conversation_id": str(conversation.id),
        "text": inbound.text or "",
        "from": inbound.address,
        "channel": inbound.channel,
    }
    if conversation.language:
        payload["language"] = conversation.language
    return payload


async def _hand_to_workflow(
    session: AsyncSession,
    conversation: Conversation,
    message: ConversationMessage,
    inbound: Inbound,
    queue: RunQueue | None,
) -> str:
    tenant_id = conversation.tenant_id
    payload = _event_payload(conversation, inbound)
    if await _waits_for_messages(session, conversation):
        emitted = await emit_event(
            session,
            tenant_id,
            MESSAGE_EVENT,
            payload,
            actor=CHANNELS_ACTOR,
            queue=queue,
            key=f"conversation-message:{message.id}",
        )
        message.payload = {**message.payload, "handed_to": f"event:{emitted.event.id}"}
        await session.flush()
        return "event"
    setting = await conversation_workflow(session, tenant_id, conversation.channel)
    if setting is None:
        message.payload = {**message.payload, "problem": f"no workflow answers {conversation.channel}"}
        await session.flush()
        logger.info("no workflow answers the %s channel: a message was stored only", conversation.channel)
        return "nowhere"
    try:
        run = await start_run(
            session,
            CHANNELS_ACTOR,
            tenant_id,
            setting.workflow_id,
            payload,
            order_key=f"conversation:{conversation.id}",
            queue=queue,
            created_by=f"conversation:{conversation.id}",
        )
    except SMEFlowError as exc:  # refused before anything was written: keep the message
        message.payload = {**message.payload, "problem": exc.message[:300]}
        await session.flush()
        logger.warning(
            "the %s workflow refused a conversation message: %s", conversation.channel, exc.message
        )
        return "nowhere"
    conversation.workflow_id, conversation.run_id = setting.workflow_id, run.id
    message.payload = {**message.payload, "handed_to": f"run:{run.id}"}
    await session.flush()
    return "run"


__all__ = ["CHANNELS_ACTOR", "MESSAGE_EVENT", "Inbound", "Received", "receive"]
