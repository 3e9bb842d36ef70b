"""A realistic valid definition: a salon's booking funnel (used by several tests)."""

from __future__ import annotations

import copy
from typing import Any

_SALON: dict[str, Any] = {
    "schema_version": 1,
    "name": "Salon booking",
    "input_schema": {
        "type": "object",
        "properties": {
            "phone": {"type": "string", "description": "the customer's phone, E.164"},
            "amount": {"type": "integer", "minimum": 0},
            "language": {"type": ["string", "null"], "enum": ["en", "sw", None]},
        },
        "required": ["phone"],
    },
    "triggers": [
        {"kind": "webhook", "secret_required": True},
        {"kind": "schedule", "cron": "0 8 * * MON-FRI", "timezone": "Africa/Nairobi"},
        {"kind": "event", "event": "booking.created"},
        {"kind": "manual"},
    ],
    "nodes": [
        {"id": "start", "kind": "trigger", "label": "Customer writes"},
        {
            "id": "ask",
            "kind": "form",
            "config": {
                "title": "Book an appointment",
                "fields": [
                    {
                        "name": "service",
                        "type": "single_choice",
                        "label": "Which service?",
                        "options": ["Haircut", "Braids", "Manicure"],
                    },
                    {"name": "day", "type": "date", "label": "Which day?"},
                    {"name": "deposit", "type": "money", "label": "Deposit", "currency": "KES", "min": 0},
                    {
                        "name": "reminders",
                        "type": "consent",
                        "label": "May we remind you?",
                        "required": False,
                    },
                ],
            },
        },
        {"id": "check", "kind": "condition", "config": {"default": "hold"}},
        {
            "id": "approve",
            "kind": "approval",
            "config": {
                "title": '="Big booking: " + state.ask.service',
                "details": {"Amount": "input.amount", "Phone": "input.phone"},
                "role": "staff",
                "timeout": "PT4H",
                "default_outcome": "approve",
            },
        },
        {"id": "hold", "kind": "wait", "config": {"duration": 900}},
        {
            "id": "confirm",
            "kind": "send_message",
            "config": {
                "channel": "whatsapp",
                "to": "input.phone",
                "template": "booking_confirmed",
                "variables": {
                    "service": "=state.ask.service",
                    "day": "=state.ask.day",
                    "salon": "Mama Njeri",
                },
                "language": "input.language",
            },
            "retry": {
                "max_attempts": 5,
                "initial_interval": 2,
                "backoff": 2,
                "max_interval": 60,
                "jitter": True,
            },
            "on_error": "failed",
        },
        {
            "id": "done",
            "kind": "end",
            "config": {"output": {"booked": "true", "service": "state.ask.service"}},
        },
        {"id": "failed", "kind": "end", "config": {"outcome": "failed"}},
    ],
    "edges": [
        {"from": "start", "to": "ask"},
        {"from": "ask", "to": "check"},
        {"from": "check", "to": "approve", "condition": "input.amount > 1000", "label": "big booking"},
        {"from": "check", "to": "hold"},
        {"from": "approve", "to": "confirm", "condition": "state.approve.approved"},
        {"from": "approve", "to": "failed", "condition": "!state.approve.approved"},
        {"from": "hold", "to": "confirm"},
        {"from": "confirm", "to": "done"},
    ],
}


def salon() -> dict[str, Any]:
    """A fresh copy of the salon booking definition (tests mutate it)."""
    return copy.deepcopy(_SALON)
