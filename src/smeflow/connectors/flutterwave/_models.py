"""Flutterwave v3's credentials and config, and the input and output models of its actions
(SMEFlow's words: money in integer minor units + ISO currency, phones in E.164)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from smeflow.connectors._sdk import ConnectorConfig
from smeflow.core.money import EXPONENTS

#: SMEFlow's reading of Flutterwave's ``data.status``
PaymentStatus = Literal["succeeded", "failed", "pending"]
STATUSES: dict[str, PaymentStatus] = {"successful": "succeeded", "failed": "failed", "pending": "pending"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _currency(value: str) -> str:
    if value not in EXPONENTS:
        raise ValueError(f"{value!r} is not a currency SMEFlow handles")
    return value


class FlutterwaveCredentials(_Model):
    """The v3 secret key (``FLWSECK-…``) and the dashboard's webhook secret hash."""

    secret_key: SecretStr = Field(description="the v3 secret key (FLWSECK-…)")
    secret_hash: SecretStr = Field(
        description="the secret hash set in the dashboard's webhook settings (sent back as verif-hash)"
    )


class FlutterwaveConfig(ConnectorConfig):
    """Flutterwave settings: ``require_signature`` refuses webhook deliveries that carry only
    the legacy ``verif-hash`` header and not the ``flutterwave-signature`` HMAC."""

    require_signature: bool = False


class CreatePaymentIn(_Model):
    amount_minor: int = Field(gt=0, description="the amount in minor units (UGX and RWF have none)")
    currency: str = Field("NGN", description="ISO 4217: NGN, GHS, KES, ZAR, UGX, TZS, RWF, USD…")
    redirect_url: str = Field(
        pattern=r"^https?://\S+$", max_length=500, description="where the customer returns"
    )
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)
    phone: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$", description="E.164")
    name: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=100, description="shown on the checkout page")
    description: str | None = Field(None, max_length=200)
    payment_options: str | None = Field(
        None, pattern=r"^[a-z_, ]{1,200}$", description="card, mobilemoney, ussd…"
    )
    session_duration: int | None = Field(None, ge=1, le=1440, description="minutes the link stays valid")

    _check_currency = field_validator("currency")(_currency)


class CreatePaymentOut(_Model):
    link: str
    tx_ref: str


class _Expected(_Model):
    expected_amount_minor: int | None = Field(
        None, gt=0, description="if given, a payment of less than this is refused"
    )
    expected_currency: str | None = Field(
        None, description="if given, a payment in another currency is refused"
    )


class VerifyIn(_Expected):
    transaction_id: int = Field(
        gt=0, description="Flutterwave's transaction id (transaction_id on the redirect)"
    )
    expected_tx_ref: str | None = Field(
        None, description="if given, a transaction for another tx_ref is refused"
    )


class VerifyByReferenceIn(_Expected):
    tx_ref: str = Field(min_length=1, max_length=100)


class VerifyOut(_Model):
    transaction_id: int
    tx_ref: str
    status: PaymentStatus
    amount_minor: int
    currency: str
    charged_amount_minor: int | None = None
    provider_ref: str = Field(description="Flutterwave's transaction id, as text")
    flw_ref: str | None = None
    payment_type: str | None = None
    email: str | None = None
    reason: str | None = Field(None, description="the processor's response")


__all__ = [
    "STATUSES",
    "CreatePaymentIn",
    "CreatePaymentOut",
    "FlutterwaveConfig",
    "FlutterwaveCredentials",
    "PaymentStatus",
    "VerifyByReferenceIn",
    "VerifyIn",
    "VerifyOut",
]
