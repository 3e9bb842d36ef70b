"""Channels: how SMEFlow talks with customers on the web, WhatsApp, SMS and USSD.

Sits above the engine (conversations start and resume runs). So far: conversational forms
(:mod:`smeflow.channels.forms`), re-exported here.
"""

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
    "MORE",
    "SKIP_WORDS",
    "USSD_LIMIT",
    "Accepted",
    "FormSession",
    "Outcome",
    "Parsed",
    "Prompt",
    "PromptChannel",
    "Rejected",
    "Step",
    "is_skip",
    "parse_answer",
    "parse_choice",
    "parse_choices",
    "prompt",
    "read_number",
    "skip_word",
    "ussd_pages",
]
