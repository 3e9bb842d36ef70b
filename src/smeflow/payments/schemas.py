"""Payments as the API shows them (amounts in minor units plus the currency, times in UTC)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PaymentStatus = Literal["created", "pending", "succeeded", "failed", "reversed"]


class PaymentTransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: PaymentStatus | None
    to_status: PaymentStatus
    cause: Literal["request", "callback", "query"]
    event_id: str | None
    detail: str | None
    at: datetime


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    integration_id: uuid.UUID
    connector: str
    reference: str
    provider_reference: str | None
    amount_minor: int = Field(description="in minor units of the currency (KES 1500.00 is 150000)")
    currency: str
    status: PaymentStatus
    phone: str | None
    email: str | None
    description: str | None
    checkout_url: str | None = Field(description="where a card payer completes the payment, if anywhere")
    provider_ref: str | None = Field(description="the provider's receipt (an M-Pesa receipt number…)")
    failure_code: str | None
    failure_reason: str | None
    run_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None


class PaymentDetailOut(PaymentOut):
    transitions: list[PaymentTransitionOut]


class PaymentIn(BaseModel):
    """Ask a customer to pay (an M-Pesa prompt on their phone, a card checkout link…)."""

    model_config = ConfigDict(extra="forbid")

    integration: str = Field(min_length=1, max_length=200, description="the payment integration's name or id")
    amount_minor: int = Field(gt=0, le=10**15, description="the amount in minor units")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency")
    phone: str | None = Field(None, max_length=20, description="the payer's phone (M-Pesa), any usual format")
    email: str | None = Field(None, max_length=254, description="the payer's email (card payments)")
    description: str | None = Field(None, max_length=100)
    reference: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9-]{6,50}$",
        description="your reference: the same reference again returns the same payment (default: a new one)",
    )


__all__ = ["PaymentDetailOut", "PaymentIn", "PaymentOut", "PaymentStatus", "PaymentTransitionOut"]
