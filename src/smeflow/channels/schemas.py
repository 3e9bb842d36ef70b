"""What the conversations API takes and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ChannelName = Literal["whatsapp", "sms", "web"]
Mode = Literal["bot", "human"]


class MessageOut(BaseModel):
    """One message of a conversation."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    direction: Literal["in", "out"]
    text: str | None
    status: str
    provider_message_id: str | None
    sent_by: str | None
    payload: dict[str, Any]
    at: datetime


class ConversationOut(BaseModel):
    """A conversation, without its messages."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: ChannelName
    integration_id: uuid.UUID | None
    address: str = Field(description="the customer's E.164 phone, or the web visitor's id")
    customer_name: str | None
    language: str | None
    mode: Mode = Field(description="bot: messages go to the workflow; human: a person has taken over")
    assigned_user_id: uuid.UUID | None
    workflow_id: uuid.UUID | None
    run_id: uuid.UUID | None
    last_inbound_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ConversationDetailOut(ConversationOut):
    """A conversation and its messages, oldest first."""

    messages: list[MessageOut]


class ReplyIn(BaseModel):
    """A staff member's reply: a text, or (WhatsApp, outside the 24-hour window) a template."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, min_length=1, max_length=4096, description="the message")
    template: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        pattern=r"^[a-z0-9_]+$",
        description="an approved WhatsApp template",
    )
    variables: dict[str, str] = Field(
        default_factory=dict, description="the template's body parameters, in order"
    )
    language: str | None = Field(
        None, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description="the template's language"
    )


class ConversationWorkflowIn(BaseModel):
    """Which workflow answers a channel."""

    model_config = ConfigDict(extra="forbid")

    channel: ChannelName = Field(description="the channel whose conversations it answers")
    workflow_id: uuid.UUID = Field(description="an active, published workflow of the tenant")


class ConversationWorkflowOut(BaseModel):
    """A channel and the workflow that answers it."""

    model_config = ConfigDict(from_attributes=True)

    channel: ChannelName
    workflow_id: uuid.UUID
    updated_at: datetime


__all__ = [
    "ChannelName",
    "ConversationDetailOut",
    "ConversationOut",
    "ConversationWorkflowIn",
    "ConversationWorkflowOut",
    "MessageOut",
    "Mode",
    "ReplyIn",
]
