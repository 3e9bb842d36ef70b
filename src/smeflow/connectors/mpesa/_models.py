"""The M-Pesa connector's declarations: credentials, config, and each action's input and output."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smeflow.connectors._sdk import ConnectorConfig

PaymentStatus = Literal["pending", "succeeded", "failed"]


class MpesaCredentials(BaseModel):
    """What the Daraja portal gives an app (and, for payouts, the initiator's credential)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer_key: SecretStr = Field(description="the Daraja app's consumer key")
    consumer_secret: SecretStr = Field(description="the Daraja app's consumer secret")
    passkey: SecretStr | None = Field(None, description="the Lipa Na M-Pesa Online passkey (STK Push)")
    initiator_name: str | None = Field(None, max_length=100, description="the B2C API operator's username")
    security_credential: SecretStr | None = Field(
        None,
        description="the B2C initiator password encrypted with Safaricom's certificate (base64), "
        "as the Daraja portal generates it",
    )


class MpesaConfig(ConnectorConfig):
    """The tenant's M-Pesa numbers (none is secret)."""

    shortcode: str | None = Field(
        None,
        pattern=r"^\d{5,7}$",
        description="BusinessShortCode: the paybill number, or for a till the head-office/store number",
    )
    transaction_type: Literal["paybill", "till"] = Field(
        "paybill", description="paybill (CustomerPayBillOnline) or till (CustomerBuyGoodsOnline)"
    )
    till_number: str | None = Field(
        None, pattern=r"^\d{5,7}$", description="for a till: the till number customers pay (PartyB)"
    )
    b2c_shortcode: str | None = Field(
        None, pattern=r"^\d{5,7}$", description="the shortcode B2C payouts are sent from (PartyA)"
    )


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StkPushIn(_Input):
    amount_minor: int = Field(gt=0, description="the amount in cents of KES (whole shillings only)")
    currency: str = Field("KES", description="must be KES")
    phone: str = Field(description="the paying customer's phone, E.164 (+2547…)", max_length=20)
    account_reference: str = Field(
        min_length=1, max_length=12, description="shown to the customer in the prompt (at most 12 characters)"
    )
    description: str | None = Field(None, min_length=1, max_length=13, description="at most 13 characters")


class StkPushOut(BaseModel):
    checkout_request_id: str = Field(
        description="the id SMEFlow tracks the payment by (the callback's reference)"
    )
    merchant_request_id: str
    status: PaymentStatus = "pending"
    customer_message: str | None = None
    amount_minor: int
    currency: str
    phone: str


class StkQueryIn(_Input):
    checkout_request_id: str = Field(min_length=1, max_length=100)


class StkQueryOut(BaseModel):
    checkout_request_id: str
    status: PaymentStatus
    result_code: str | None = Field(None, description="Daraja's ResultCode once the customer has answered")
    reason: str | None = None


class C2bRegisterIn(_Input):
    shortcode: str | None = Field(
        None, pattern=r"^\d{5,7}$", description="empty: the integration's shortcode"
    )
    response_type: Literal["Completed", "Cancelled"] = Field(
        "Completed", description="what M-Pesa does when the validation URL does not answer"
    )
    confirmation_url: str | None = Field(
        None, max_length=500, description="empty: the integration's webhook URL"
    )
    validation_url: str | None = Field(
        None, max_length=500, description="empty: the integration's webhook URL"
    )


class C2bRegisterOut(BaseModel):
    shortcode: str
    confirmation_url: str
    validation_url: str
    conversation_id: str | None = None


class B2cPaymentIn(_Input):
    amount_minor: int = Field(gt=0, description="the amount in cents of KES (whole shillings only)")
    currency: str = Field("KES", description="must be KES")
    phone: str = Field(description="the receiving customer's phone, E.164 (+2547…)", max_length=20)
    command: Literal["BusinessPayment", "SalaryPayment", "PromotionPayment"] = "BusinessPayment"
    remarks: str = Field("Payment", min_length=2, max_length=100)
    occasion: str | None = Field(None, min_length=1, max_length=100)


class B2cPaymentOut(BaseModel):
    originator_conversation_id: str = Field(
        description="the id SMEFlow tracks the transfer by (the result's reference)"
    )
    conversation_id: str | None = None
    status: Literal["pending"] = "pending"
    duplicate: bool = Field(False, description="Daraja already had this request (a repeated call)")
    amount_minor: int
    currency: str
    phone: str


__all__ = [
    "B2cPaymentIn",
    "B2cPaymentOut",
    "C2bRegisterIn",
    "C2bRegisterOut",
    "MpesaConfig",
    "MpesaCredentials",
    "PaymentStatus",
    "StkPushIn",
    "StkPushOut",
    "StkQueryIn",
    "StkQueryOut",
]
