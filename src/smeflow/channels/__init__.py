"""Channels: how SMEFlow talks with customers on the web, WhatsApp, SMS and USSD.

Sits above the engine (conversations start and resume runs): conversations and their messages
(:mod:`.models`, :mod:`._conversations`), inbound messages handed to the channel's workflow in
order (:mod:`._inbound`), the senders of ``send_message`` steps (:mod:`._senders`), the web chat
(:mod:`._webchat`), their wiring (:mod:`._kit`), and conversational forms
(:mod:`smeflow.channels.forms`).
"""

from smeflow.channels._conversations import (
    add_message,
    check_channel,
    conversation_for,
    conversation_workflow,
    get_conversation,
    get_message,
    hand_back,
    list_conversation_workflows,
    list_conversations,
    list_messages,
    set_conversation_workflow,
    take_over,
)
from smeflow.channels._inbound import CHANNELS_ACTOR, MESSAGE_EVENT, Inbound, Received, receive
from smeflow.channels._kit import ChannelKit, inbound_of
from smeflow.channels._senders import (
    CHAT_CHANNEL,
    Content,
    ConversationSender,
    Delivery,
    WindowClosed,
    conversation_senders,
)
from smeflow.channels._webchat import ChatHub, new_visitor, visitor_of
from smeflow.channels.forms import (
    BACK,
    MORE,
    SKIP_WORDS,
    USSD_LIMIT,
    Accepted,
    FormSession,
    Outcome,
    Parsed,
    Prompt,
    PromptChannel,
    Rejected,
    Step,
    is_skip,
    parse_answer,
    parse_choice,
    parse_choices,
    prompt,
    read_number,
    skip_word,
    ussd_pages,
)

__all__ = [
    "BACK",
    "CHANNELS_ACTOR",
    "CHAT_CHANNEL",
    "MESSAGE_EVENT",
    "MORE",
    "SKIP_WORDS",
    "USSD_LIMIT",
    "Accepted",
    "ChannelKit",
    "ChatHub",
    "Content",
    "ConversationSender",
    "Delivery",
    "FormSession",
    "Inbound",
    "Outcome",
    "Parsed",
    "Prompt",
    "PromptChannel",
    "Received",
    "Rejected",
    "Step",
    "WindowClosed",
    "add_message",
    "check_channel",
    "conversation_for",
    "conversation_senders",
    "conversation_workflow",
    "get_conversation",
    "get_message",
    "hand_back",
    "inbound_of",
    "is_skip",
    "list_conversation_workflows",
    "list_conversations",
    "list_messages",
    "new_visitor",
    "parse_answer",
    "parse_choice",
    "parse_choices",
    "prompt",
    "read_number",
    "receive",
    "set_conversation_workflow",
    "skip_word",
    "take_over",
    "ussd_pages",
    "visitor_of",
]
