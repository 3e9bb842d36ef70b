"""Paystack's credentials and the input and output models of its actions (SMEFlow's words:
money in integer minor units + ISO currency; Paystack's subunits are the same numbers)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Currency = Literal["NGN", "GHS", "ZAR", "KES", "USD"]
#: SMEFlow's reading of Paystack's transaction statuses (see ``TRANSACTION_STATUSES``)
PaymentStatus = Literal["succeeded", "failed", "abandoned", "pending", "reversed"]
TransferStatus = Literal["pending", "otp", "succeeded", "failed", "reversed"]

#: Paystack ``data.status`` → SMEFlow's status. ``abandoned``: the customer has not completed the
#: payment (it may still be completed); ``ongoing``/``pending``/``processing``/``queued``: in progress.
TRANSACTION_STATUSES: dict[str, PaymentStatus] = {
    "success": "succeeded",
    "failed": "failed",
    "abandoned": "abandoned",
    "ongoing": "pending",
    "pending": "pending",
    "processing": "pending",
    "queued": "pending",
    "reversed": "reversed",
}
TRANSFER_STATUSES: dict[str, TransferStatus] = {
    "pending": "pending",
    "received": "pending",
    "otp": "otp",
    "success": "succeeded",
    "failed": "failed",
    "reversed": "reversed",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaystackCredentials(_Model):
    """The account's secret key (``sk_test_…`` / ``sk_live_…``); it also signs the webhooks."""

    secret_key: SecretStr = Field(description="the secret key from the Paystack dashboard")


class InitializeIn(_Model):
    amount_minor: int = Field(gt=0, description="the amount in minor units (kobo, pesewas, cents)")
    currency: Currency = "NGN"
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200, description="the customer's email")
    callback_url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=500)
    channels: list[str] | None = Field(None, description="card, bank, ussd, qr, mobile_money, bank_transfer…")
    metadata: dict[str, str] | None = None


class InitializeOut(_Model):
    authorization_url: str
    access_code: str
    reference: str


class VerifyIn(_Model):
    reference: str = Field(min_length=1, max_length=100)
    expected_amount_minor: int | None = Field(
        None, gt=0, description="if given, an answer for another amount is refused"
    )
    expected_currency: Currency | None = Field(
        None, description="if given, an answer in another currency is refused"
    )


class VerifyOut(_Model):
    reference: str
    status: PaymentStatus
    amount_minor: int
    currency: str
    provider_ref: str = Field(description="Paystack's transaction id")
    paid_at: str | None = None
    channel: str | None = None
    email: str | None = None
    reason: str | None = Field(None, description="Paystack's gateway response (why it failed)")


class RefundIn(_Model):
    reference: str = Field(min_length=1, max_length=100, description="the transaction's reference (or id)")
    amount_minor: int | None = Field(None, gt=0, description="empty: the whole remaining amount")
    currency: Currency | None = None
    customer_note: str | None = Field(None, max_length=500)


class RefundOut(_Model):
    refund_id: str
    reference: str
    status: str
    amount_minor: int
    currency: str


class RecipientIn(_Model):
    type: Literal["nuban", "ghipss", "mobile_money", "basa"] = "nuban"
    name: str = Field(min_length=1, max_length=200)
    account_number: str = Field(pattern=r"^[0-9A-Za-z+]{4,30}$")
    bank_code: str = Field(min_length=1, max_length=20)
    currency: Currency | None = None
    description: str | None = Field(None, max_length=200)


class RecipientOut(_Model):
    recipient_code: str
    name: str
    currency: str | None = None
    account_name: str | None = None
    bank_name: str | None = None


class TransferIn(_Model):
    amount_minor: int = Field(gt=0)
    currency: Currency = "NGN"
    recipient: str = Field(pattern=r"^RCP_\w+$", description="a recipient code (RCP_…)")
    reason: str | None = Field(None, max_length=200)


class TransferOut(_Model):
    transfer_code: str
    reference: str
    status: TransferStatus
    amount_minor: int
    currency: str


__all__ = [
    "TRANSACTION_STATUSES",
    "TRANSFER_STATUSES",
    "Currency",
    "InitializeIn",
    "InitializeOut",
    "PaymentStatus",
    "PaystackCredentials",
    "RecipientIn",
    "RecipientOut",
    "RefundIn",
    "RefundOut",
    "TransferIn",
    "TransferOut",
    "TransferStatus",
    "VerifyIn",
    "VerifyOut",
]
