"""The WhatsApp connector's credentials, config, and action inputs and outputs.

The limits checked here are the ones the Cloud API documents (protocols_africa.md §5.1): a text
body of at most 4096 characters; at most 3 reply buttons, each with a title of at most 20
characters and an id of at most 256; a list of at most 10 rows in all. Other limits are left to
the Graph API, whose refusal becomes :class:`~smeflow.connectors.Rejected`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from smeflow.connectors._sdk import ConnectorConfig
from smeflow.core.phones import PhoneError, to_e164

MAX_TEXT = 4096
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_LIST_ROWS = 10


class WhatsAppCredentials(BaseModel):
    """The Meta app's secrets for one WhatsApp Business phone number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    access_token: SecretStr = Field(
        description="a system user's access token with whatsapp_business_messaging"
    )
    app_secret: SecretStr = Field(description="the Meta app's secret: webhooks are signed with it")
    verify_token: SecretStr = Field(description="the token Meta echoes in the webhook verification handshake")


class WhatsAppConfig(ConnectorConfig):
    """Which WhatsApp Business number the integration sends from."""

    phone_number_id: str | None = Field(
        None, pattern=r"^\d{1,30}$", description="the Cloud API phone number id (not the phone number)"
    )
    waba_id: str | None = Field(None, pattern=r"^\d{1,30}$", description="the WhatsApp Business Account id")
    api_version: str = Field("v21.0", pattern=r"^v\d{1,3}\.\d$", description="the Graph API version")


def _e164(value: str) -> str:
    if not value.startswith("+"):
        raise ValueError("must be an E.164 phone number (+254712345678)")
    try:
        return to_e164(value)
    except PhoneError:
        raise ValueError("must be a valid E.164 phone number (+254712345678)") from None


Phone = Annotated[str, AfterValidator(_e164)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendTextIn(_In):
    to: Phone = Field(description="the customer's number, E.164")
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="the message")
    preview_url: bool = Field(False, description="show a preview of the first link")


class TemplateParameter(_In):
    """One template parameter, as the Graph API writes it, except ``currency``: give
    ``{"type": "currency", "currency": {"amount_minor": 100000, "code": "KES", "fallback_value":
    "KES 1,000"}}`` (minor units) and it is sent as Graph's ``amount_1000``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text", "currency", "date_time", "image", "document", "video", "payload", "location"]


class TemplateComponent(_In):
    type: Literal["header", "body", "button", "footer"]
    sub_type: Literal["quick_reply", "url", "copy_code", "flow"] | None = None
    index: int | None = Field(None, ge=0, le=9)
    parameters: list[TemplateParameter] = Field(default_factory=list)


class SendTemplateIn(_In):
    to: Phone = Field(description="the customer's number, E.164")
    name: str = Field(
        min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$", description="the approved template"
    )
    language: str = Field(
        "en", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description="the template's language code (en, en_US, sw)"
    )
    components: list[TemplateComponent] = Field(default_factory=list, description="the template's parameters")


class Button(_In):
    id: str = Field(min_length=1, max_length=MAX_BUTTON_ID, description="returned in the customer's reply")
    title: str = Field(min_length=1, max_length=MAX_BUTTON_TITLE, description="the button's label")


class ListRow(_In):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1)
    description: str | None = None


class ListSection(_In):
    title: str | None = None
    rows: list[ListRow] = Field(min_length=1)


class SendInteractiveIn(_In):
    to: Phone = Field(description="the customer's number, E.164")
    kind: Literal["button", "list"] = Field(description="reply buttons (up to 3) or a list (up to 10 rows)")
    body: str = Field(min_length=1, max_length=MAX_TEXT, description="the message text")
    header: str | None = Field(None, description="a text header")
    footer: str | None = Field(None, description="a text footer")
    buttons: list[Button] = Field(default_factory=list, description="for kind=button: 1 to 3 buttons")
    list_button: str | None = Field(
        None, description="for kind=list: the label of the button opening the list"
    )
    sections: list[ListSection] = Field(
        default_factory=list, description="for kind=list: the rows, in sections"
    )

    @model_validator(mode="after")
    def _limits(self) -> SendInteractiveIn:
        if self.kind == "button":
            if not 1 <= len(self.buttons) <= MAX_BUTTONS:
                raise ValueError(f"buttons: a button message has 1 to {MAX_BUTTONS} buttons")
            if len({b.id for b in self.buttons}) != len(self.buttons):
                raise ValueError("buttons: every button needs its own id")
            if self.sections:
                raise ValueError("sections: only a list message has sections")
        else:
            rows = sum(len(section.rows) for section in self.sections)
            if not 1 <= rows <= MAX_LIST_ROWS:
                raise ValueError(f"sections: a list has 1 to {MAX_LIST_ROWS} rows in all")
            if not self.list_button:
                raise ValueError("list_button: a list message needs the label of its button")
            if self.buttons:
                raise ValueError("buttons: only a button message has buttons")
        return self


class SendOut(BaseModel):
    message_id: str = Field(description="the wamid: status events carry it as their reference")
    wa_id: str | None = Field(None, description="the customer's WhatsApp id (digits)")
    message_status: str | None = Field(None, description="for templates, the Graph API's acceptance status")


class MarkReadIn(_In):
    message_id: str = Field(min_length=1, max_length=200, description="the wamid of the customer's message")


class MarkReadOut(BaseModel):
    success: bool


class PhoneNumberIn(_In):
    pass


class PhoneNumberOut(BaseModel):
    id: str
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: str | None = None


__all__ = [
    "Button",
    "ListRow",
    "ListSection",
    "MarkReadIn",
    "MarkReadOut",
    "PhoneNumberIn",
    "PhoneNumberOut",
    "SendInteractiveIn",
    "SendOut",
    "SendTemplateIn",
    "SendTextIn",
    "TemplateComponent",
    "TemplateParameter",
    "WhatsAppConfig",
    "WhatsAppCredentials",
]
