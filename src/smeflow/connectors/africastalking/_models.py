"""Africa's Talking credentials, config and the actions' input and output models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from smeflow.connectors._sdk import ConnectorConfig
from smeflow.connectors.africastalking._ussd import MAX_TEXT_CHARS
from smeflow.core.phones import PhoneError, to_e164

#: AT's production SMS / application host and voice host (§4.1)
LIVE_API_URL = "https://api.africastalking.com"
LIVE_VOICE_URL = "https://voice.africastalking.com"
#: AT's own sandbox hosts, used with the username ``sandbox``
AT_SANDBOX_API_URL = "https://api.sandbox.africastalking.com"
AT_SANDBOX_VOICE_URL = "https://voice.sandbox.africastalking.com"
#: text with no control characters but newlines (what a USSD menu or a voice prompt can carry)
_PRINTABLE = r"^[^\x00-\x09\x0b-\x1f\x7f]+$"


def _e164(value: str) -> str:
    try:
        normalised = to_e164(value)
    except PhoneError:
        raise ValueError("not a valid phone number") from None
    if normalised != value:
        raise ValueError(f"write the number in E.164 ({normalised})")
    return value


#: a phone number in E.164 (``+254712345678``), checked with libphonenumber
E164 = Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$", examples=["+254712345678"]), AfterValidator(_e164)]


class AfricasTalkingCredentials(BaseModel):
    """The application's API key (Settings → API key in AT's dashboard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr = Field(min_length=8, max_length=200)


class AfricasTalkingConfig(ConnectorConfig):
    """Non-secret settings of an Africa's Talking integration."""

    username: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the AT application's username (`sandbox` for AT's own sandbox)",
    )
    sender_id: str | None = Field(
        None,
        min_length=1,
        max_length=11,
        pattern=r"^[A-Za-z0-9 ]+$",
        description="the registered short code or sender id SMS come from (empty: AT's default)",
    )
    voice_number: E164 | None = Field(None, description="the AT voice number calls are made from")
    voice_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s]+$",
        max_length=500,
        description="AT's voice API address; empty: the voice host matching base_url",
    )
    ussd_service_codes: tuple[str, ...] = Field(
        (),
        max_length=20,
        description="the USSD codes of this account (`*384*123#`); USSD requests for others are refused",
    )
    ussd_default_reply: str = Field(
        "Thank you. This service is not available right now.",
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        pattern=_PRINTABLE,
        description="the text of the `END` reply to a USSD request no conversation answers",
    )
    voice_default_say: str = Field(
        "Thank you for calling. Goodbye.",
        min_length=1,
        max_length=500,
        pattern=_PRINTABLE,
        description="what a call no conversation answers hears before it ends",
    )


class Cost(BaseModel):
    """An amount AT charged, in integer minor units."""

    amount_minor: int
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class SendSmsIn(BaseModel):
    """What to send, to whom."""

    model_config = ConfigDict(extra="forbid")

    to: list[E164] = Field(min_length=1, max_length=1000, description="recipients, in E.164")
    message: str = Field(min_length=1, max_length=1600, description="the text (long texts are sent in parts)")
    sender_id: str | None = Field(
        None,
        min_length=1,
        max_length=11,
        pattern=r"^[A-Za-z0-9 ]+$",
        description="the `from`: a short code or sender id (empty: the integration's)",
    )
    enqueue: bool = Field(False, description="ask AT to queue the messages and acknowledge at once")


class SmsRecipient(BaseModel):
    """What AT said about one recipient (acceptance, not delivery: that comes in a delivery report)."""

    number: str
    accepted: bool
    status_code: int
    #: AT's status text (``Success``, ``InvalidPhoneNumber``…)
    status: str
    #: what the code means (``Sent``, ``Queued``, ``UserInBlacklist``…)
    meaning: str
    provider_message_id: str | None = None
    cost: Cost | None = None
    #: AT's cost text as sent (``KES 0.8000``); kept when it has more decimals than the currency
    cost_text: str | None = None


class SendSmsOut(BaseModel):
    """Per-recipient results of one send."""

    summary: str
    accepted: int
    failed: int
    recipients: list[SmsRecipient]


class MakeCallIn(BaseModel):
    """Whom to call."""

    model_config = ConfigDict(extra="forbid")

    to: list[E164] = Field(min_length=1, max_length=100, description="numbers to call, in E.164")
    from_number: E164 | None = Field(
        None, description="the AT voice number to call from (empty: the integration's)"
    )


class CallEntry(BaseModel):
    """One number AT was asked to call."""

    phone: str
    accepted: bool
    #: AT's status (``Queued`` when accepted, else the reason, ``InvalidPhoneNumber``…)
    status: str
    session_id: str | None = None


class MakeCallOut(BaseModel):
    """Per-number results of one call request."""

    accepted: int
    entries: list[CallEntry]


class BalanceIn(BaseModel):
    """Nothing: the balance of the integration's application."""

    model_config = ConfigDict(extra="forbid")


class BalanceOut(BaseModel):
    """The application's balance."""

    balance: Cost | None
    balance_text: str


__all__ = [
    "AT_SANDBOX_API_URL",
    "AT_SANDBOX_VOICE_URL",
    "E164",
    "LIVE_API_URL",
    "LIVE_VOICE_URL",
    "AfricasTalkingConfig",
    "AfricasTalkingCredentials",
    "BalanceIn",
    "BalanceOut",
    "CallEntry",
    "Cost",
    "MakeCallIn",
    "MakeCallOut",
    "SendSmsIn",
    "SendSmsOut",
    "SmsRecipient",
]
