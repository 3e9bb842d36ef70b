"""Conversations: the tenant's conversations with their messages, a person taking one over,
replying and handing it back to the bot, and which workflow answers each channel.

Reading needs ``conversations:read`` (viewers and up); taking over, replying, handing back and
choosing a channel's workflow need ``conversations:write`` (staff and up). Every change is
audited. While a person has a conversation (``mode`` human) its messages do not reach the
workflow; handed back, the next message does again, with the conversation's run and history kept.
A reply on WhatsApp more than 24 hours after the customer's last message must be a template
(else 409 ``whatsapp_window_closed``). Another tenant's conversation is 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_uuid_cursor, paginate
from smeflow.channels._conversations import (
    get_conversation,
    hand_back,
    list_conversation_workflows,
    list_conversations,
    list_messages,
    set_conversation_workflow,
    take_over,
)
from smeflow.channels._kit import ChannelKit
from smeflow.channels._senders import Content
from smeflow.channels.schemas import (
    ChannelName,
    ConversationDetailOut,
    ConversationOut,
    ConversationWorkflowIn,
    ConversationWorkflowOut,
    MessageOut,
    Mode,
    ReplyIn,
)
from smeflow.core import new_id
from smeflow.db import DbScope
from smeflow.errors import FieldProblem, Unavailable, ValidationFailed
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1", tags=["conversations"])


def channels_of(request: Request) -> ChannelKit:
    """The process's channels (set up in the app's lifespan)."""
    kit: ChannelKit | None = getattr(request.app.state, "channels", None)
    if kit is None:
        raise Unavailable("conversations are not set up in this process")
    return kit


@router.get("/conversations", summary="The tenant's conversations, newest first")
async def list_all(
    state: State,
    principal: Annotated[Principal, require("conversations:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: ChannelName | None = None,
    mode: Mode | None = None,
) -> Page[ConversationOut]:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        rows = await list_conversations(
            session, tenant_id, limit + 1, channel=channel, mode=mode, before_id=decode_uuid_cursor(cursor)
        )
        return paginate(rows, limit, lambda c: str(c.id), ConversationOut.model_validate)


async def _detail(state: State, principal: Principal, conversation_id: uuid.UUID) -> ConversationDetailOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        conversation = await get_conversation(session, tenant_id, conversation_id)
        messages = await list_messages(session, tenant_id, conversation_id)
        base = ConversationOut.model_validate(conversation).model_dump()
        return ConversationDetailOut.model_validate(
            {**base, "messages": [MessageOut.model_validate(m) for m in messages]}
        )


@router.get("/conversations/{conversation_id}", summary="One conversation and its messages")
async def get_one(
    conversation_id: uuid.UUID, state: State, principal: Annotated[Principal, require("conversations:read")]
) -> ConversationDetailOut:
    return await _detail(state, principal, conversation_id)


@router.post(
    "/conversations/{conversation_id}/takeover",
    summary="Take the conversation over: its messages stop reaching the workflow",
)
async def takeover(
    conversation_id: uuid.UUID, state: State, principal: Annotated[Principal, require("conversations:write")]
) -> ConversationDetailOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        await take_over(session, principal.actor, tenant_id, conversation_id, principal.user_id)
    return await _detail(state, principal, conversation_id)


@router.post(
    "/conversations/{conversation_id}/handback",
    summary="Hand the conversation back to the bot: the next message goes to the workflow again",
)
async def handback(
    conversation_id: uuid.UUID, state: State, principal: Annotated[Principal, require("conversations:write")]
) -> ConversationDetailOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        await hand_back(session, principal.actor, tenant_id, conversation_id)
    return await _detail(state, principal, conversation_id)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    summary="Reply to the customer through the conversation's channel",
)
async def reply(
    conversation_id: uuid.UUID,
    body: ReplyIn,
    request: Request,
    principal: Annotated[Principal, require("conversations:write")],
) -> MessageOut:
    tenant_id = require_tenant(principal)
    if (body.text is None) == (body.template is None):
        raise ValidationFailed(
            "A reply is a text or a template",
            fields=[FieldProblem("body.text", "give a text, or a template (not both)", "missing")],
        )
    if body.variables and body.template is None:
        raise ValidationFailed(
            "Variables are for templates",
            fields=[FieldProblem("body.variables", "only a template has variables", "invalid")],
        )
    actor = principal.actor
    stored = await channels_of(request).delivery.send(
        tenant_id,
        conversation_id,
        Content(body.text, body.template, dict(body.variables), body.language),
        key=f"staff:{new_id()}",
        sent_by=f"{actor.type}:{actor.id}",
        audit=actor,
    )
    return MessageOut.model_validate(stored)


@router.get("/conversation-workflows", summary="Which workflow answers each channel")
async def list_settings(
    state: State, principal: Annotated[Principal, require("conversations:read")]
) -> list[ConversationWorkflowOut]:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        rows = await list_conversation_workflows(session, tenant_id)
        return [ConversationWorkflowOut.model_validate(r) for r in rows]


@router.put("/conversation-workflows", summary="Choose the workflow that answers a channel's conversations")
async def put_setting(
    body: ConversationWorkflowIn,
    state: State,
    principal: Annotated[Principal, require("conversations:write")],
) -> ConversationWorkflowOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        row = await set_conversation_workflow(
            session, principal.actor, tenant_id, body.channel, body.workflow_id
        )
        return ConversationWorkflowOut.model_validate(row)
