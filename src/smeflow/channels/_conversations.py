"""The conversations service: find or open a conversation, store its messages (once per provider
message id), read them, take a conversation over and hand it back, and say which workflow answers
a channel.

Key contracts: every function works in the caller's transaction under the session's tenant (RLS),
flushes and never commits; the changes people make (takeover, hand-back, the channel's workflow)
are audited in that same transaction. Another tenant's conversation is :class:`NotFound`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.channels.models import CHANNELS, Conversation, ConversationMessage, ConversationWorkflow
from smeflow.core import new_id, utcnow
from smeflow.engine.workflows import get_workflow
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed

_NO_CONVERSATION = "No such conversation"


async def conversation_for(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    channel: str,
    integration_id: uuid.UUID | None,
    address: str,
) -> Conversation:
    """The conversation of ``address`` on this channel and integration, opened if new, and
    locked (``FOR UPDATE``) until the transaction ends: two messages of one conversation are
    received one after the other."""
    now = utcnow()
    await session.execute(
        insert(Conversation)
        .values(
            tenant_id=tenant_id,
            id=new_id(),
            channel=channel,
            integration_id=integration_id,
            address=address,
            mode="bot",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_conversations_address")
    )
    query = (
        select(Conversation)
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.channel == channel,
            Conversation.integration_id.is_(None)
            if integration_id is None
            else Conversation.integration_id == integration_id,
            Conversation.address == address,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


async def add_message(
    session: AsyncSession,
    conversation: Conversation,
    direction: str,
    text: str | None,
    *,
    provider_message_id: str | None,
    status: str,
    payload: dict[str, Any] | None = None,
    sent_by: str | None = None,
    at: datetime | None = None,
) -> ConversationMessage | None:
    """Store one message of ``conversation``; ``None`` if a message with this provider id is
    already stored (a repeated delivery, a retried send): nothing is changed then."""
    message_id = new_id()
    inserted = (
        await session.execute(
            insert(ConversationMessage)
            .values(
                tenant_id=conversation.tenant_id,
                id=message_id,
                conversation_id=conversation.id,
                direction=direction,
                text=text,
                payload=payload or {},
                provider_message_id=provider_message_id,
                status=status,
                sent_by=sent_by,
                at=at or utcnow(),
            )
            .on_conflict_do_nothing(constraint="uq_conversation_messages_provider_id")
            .returning(ConversationMessage.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        return None
    conversation.updated_at = utcnow()
    await session.flush()
    return await get_message(session, conversation.tenant_id, message_id)


async def get_message(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID
) -> ConversationMessage:
    """One stored message; :class:`NotFound` otherwise."""
    found = (
        await session.execute(
            select(ConversationMessage).where(
                ConversationMessage.tenant_id == tenant_id, ConversationMessage.id == message_id
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("No such message")
    return found


async def get_conversation(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, *, lock: bool = False
) -> Conversation:
    """One of the tenant's conversations (locked until commit with ``lock``); :class:`NotFound`
    otherwise."""
    query = select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound(_NO_CONVERSATION)
    return found


async def list_conversations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    limit: int = 50,
    *,
    channel: str | None = None,
    mode: str | None = None,
    before_id: uuid.UUID | None = None,
) -> list[Conversation]:
    """The tenant's conversations, newest first (of one channel, in one mode, if given); pass the
    last id seen as ``before_id`` for the next page."""
    query = select(Conversation).where(Conversation.tenant_id == tenant_id)
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    if mode is not None:
        query = query.where(Conversation.mode == mode)
    if before_id is not None:
        query = query.where(Conversation.id < before_id)
    return list((await session.execute(query.order_by(Conversation.id.desc()).limit(limit))).scalars())


async def list_messages(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    after_id: uuid.UUID | None = None,
    limit: int = 500,
) -> list[ConversationMessage]:
    """A conversation's messages in order (those after ``after_id`` only, if given)."""
    query = select(ConversationMessage).where(
        ConversationMessage.tenant_id == tenant_id, ConversationMessage.conversation_id == conversation_id
    )
    if after_id is not None:
        query = query.where(ConversationMessage.id > after_id)
    return list((await session.execute(query.order_by(ConversationMessage.id).limit(limit))).scalars())


async def take_over(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> Conversation:
    """A person takes the conversation (``mode`` human, assigned to ``user_id``): from now on its
    messages are stored but do not reach the workflow. Audited ``conversation.taken_over``.
    :class:`Conflict` if someone has already taken it."""
    conversation = await get_conversation(session, tenant_id, conversation_id, lock=True)
    if conversation.mode == "human":
        raise Conflict("A person has already taken this conversation over; hand it back first")
    conversation.mode, conversation.assigned_user_id = "human", user_id
    conversation.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        tenant_id,
        actor,
        "conversation.taken_over",
        "conversation",
        str(conversation.id),
        {"assigned_user_id": str(user_id) if user_id else None},
    )
    return conversation


async def hand_back(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation:
    """Give the conversation back to the bot (``mode`` bot, nobody assigned): its run and its
    history are kept, and the next message goes to the workflow again. Audited
    ``conversation.handed_back``. :class:`Conflict` if nobody had taken it."""
    conversation = await get_conversation(session, tenant_id, conversation_id, lock=True)
    if conversation.mode != "human":
        raise Conflict("The bot already has this conversation: nobody has taken it over")
    before = conversation.assigned_user_id
    conversation.mode, conversation.assigned_user_id = "bot", None
    conversation.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        tenant_id,
        actor,
        "conversation.handed_back",
        "conversation",
        str(conversation.id),
        {"was_assigned_to": str(before) if before else None},
    )
    return conversation


def check_channel(channel: Any, field: str = "channel") -> str:
    """``channel`` if it is one conversations run on; else :class:`ValidationFailed` naming ``field``."""
    if channel not in CHANNELS:
        raise ValidationFailed(
            f"Conversations run on {', '.join(CHANNELS)}, not {channel!r}",
            fields=[FieldProblem(field, f"must be one of {', '.join(CHANNELS)}", "invalid")],
        )
    return str(channel)


async def set_conversation_workflow(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, channel: str, workflow_id: uuid.UUID
) -> ConversationWorkflow:
    """Make ``workflow_id`` (one of the tenant's, published) answer the tenant's conversations on
    ``channel``: new conversations, and conversations whose run has finished, start a run of its
    newest published version. Audited ``conversation.workflow_set``. :class:`NotFound` for
    another tenant's or an unknown workflow; :class:`ValidationFailed` (``body.workflow_id``) for
    one never published."""
    check_channel(channel, "body.channel")
    workflow = await get_workflow(session, tenant_id, workflow_id)
    if workflow.latest_version is None or workflow.status != "active":
        raise ValidationFailed(
            "Only an active, published workflow can answer conversations",
            fields=[FieldProblem("body.workflow_id", "the workflow has no published version", "invalid")],
        )
    now = utcnow()
    await session.execute(
        insert(ConversationWorkflow)
        .values(tenant_id=tenant_id, channel=channel, workflow_id=workflow_id, updated_at=now)
        .on_conflict_do_update(
            index_elements=[ConversationWorkflow.tenant_id, ConversationWorkflow.channel],
            set_={"workflow_id": workflow_id, "updated_at": now},
        )
    )
    await record(
        session,
        tenant_id,
        actor,
        "conversation.workflow_set",
        "conversation_workflow",
        channel,
        {"workflow_id": str(workflow_id)},
    )
    found = await conversation_workflow(session, tenant_id, channel)
    assert found is not None
    return found


async def conversation_workflow(
    session: AsyncSession, tenant_id: uuid.UUID, channel: str
) -> ConversationWorkflow | None:
    """Which workflow answers the tenant's conversations on ``channel`` (None: none does)."""
    query = select(ConversationWorkflow).where(
        ConversationWorkflow.tenant_id == tenant_id, ConversationWorkflow.channel == channel
    )
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def list_conversation_workflows(
    session: AsyncSession, tenant_id: uuid.UUID
) -> list[ConversationWorkflow]:
    """The tenant's channel → workflow settings, by channel."""
    query = (
        select(ConversationWorkflow)
        .where(ConversationWorkflow.tenant_id == tenant_id)
        .order_by(ConversationWorkflow.channel)
    )
    return list((await session.execute(query)).scalars())


__all__ = [
    "add_message",
    "check_channel",
    "conversation_for",
    "conversation_workflow",
    "get_conversation",
    "get_message",
    "hand_back",
    "list_conversation_workflows",
    "list_conversations",
    "list_messages",
    "set_conversation_workflow",
    "take_over",
]
