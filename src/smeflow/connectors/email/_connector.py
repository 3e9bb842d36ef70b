"""The SMTP email connector (key ``email``): send mail through the tenant's own mail server."""

from __future__ import annotations

import hashlib
import logging
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Annotated, ClassVar, Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, StringConstraints

from smeflow.connectors._errors import AuthFailed, ConnectorError, Rejected, Unavailable
from smeflow.connectors._sdk import ActionContext, Connector, ConnectorConfig, action

logger = logging.getLogger(__name__)

OneLine = Annotated[str, StringConstraints(pattern=r"^[^\r\n]*$")]


class EmailCredentials(BaseModel):
    """The SMTP account mail is sent with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1, max_length=320, description="the SMTP user name")
    password: SecretStr = Field(description="the SMTP password (or app password / API key)")


class EmailConfig(ConnectorConfig):
    """The mail server and the sender. (``base_url`` is not used: SMTP is ``host`` and ``port``.)"""

    host: str = Field(pattern=r"^[A-Za-z0-9.-]{1,253}$", description="the SMTP server, e.g. smtp.gmail.com")
    port: int = Field(587, ge=1, le=65535, description="587 for STARTTLS, 465 for TLS")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="STARTTLS on a plain connection, TLS from the start, or none (local servers only)",
    )
    from_address: EmailStr = Field(description="the sender address")
    from_name: OneLine | None = Field(None, max_length=200, description="the sender's display name")
    verify_certificates: bool = Field(True, description="check the server's TLS certificate")
    timeout_seconds: float = Field(20.0, gt=0, le=120, description="seconds to wait for the server")


class SendEmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[EmailStr] = Field(min_length=1, max_length=50, description="the recipients")
    cc: list[EmailStr] = Field(default_factory=list, max_length=50, description="copied recipients")
    reply_to: EmailStr | None = Field(None, description="where replies go, if not the sender")
    subject: OneLine = Field(min_length=1, max_length=300, description="the subject line")
    text: str = Field(min_length=1, max_length=500_000, description="the plain-text body")
    html: str | None = Field(None, max_length=1_000_000, description="an HTML body (sent as an alternative)")


class SendEmailOut(BaseModel):
    message_id: str = Field(description="the Message-ID header (the same for a repeated step)")
    accepted: list[str] = Field(description="recipients the server accepted")
    refused: list[str] = Field(default_factory=list, description="recipients the server refused")


class Email(Connector):
    """Sends email over SMTP with the tenant's mail account."""

    key = "email"
    version = "1.0.0"
    title = "Email (SMTP)"
    description = "Send email (text, optionally HTML) from your own mail account through its SMTP server."
    default_base_url = "smtp://localhost"
    credentials_model = EmailCredentials
    config_model: ClassVar[type[ConnectorConfig]] = EmailConfig

    async def check(self, ctx: ActionContext) -> None:
        """Connect and log in to the SMTP server (a refused password: :class:`AuthFailed`)."""
        async with _Session(ctx):
            pass

    @action("send_email", effect="write")
    async def send_email(self, ctx: ActionContext, data: SendEmailIn) -> SendEmailOut:
        """Send an email to one or more recipients, with a plain-text body and an optional HTML
        one. Its Message-ID is derived from the step, so a repeated send is recognisable."""
        config: EmailConfig = ctx.config
        message = EmailMessage()
        message["From"] = formataddr((config.from_name or "", config.from_address))
        message["To"] = ", ".join(data.to)
        if data.cc:
            message["Cc"] = ", ".join(data.cc)
        if data.reply_to:
            message["Reply-To"] = data.reply_to
        message["Subject"] = data.subject
        message["Date"] = format_datetime(ctx.now())
        message["Message-ID"] = message_id(ctx.idempotency_key, config.from_address)
        message.set_content(data.text)
        if data.html:
            message.add_alternative(data.html, subtype="html")
        recipients = [*data.to, *data.cc]
        async with _Session(ctx) as smtp:
            try:
                errors, _ = await smtp.send_message(message, recipients=recipients)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                first = exc.recipients[0]
                raise _response_error(ctx, "every recipient was refused", first.code, first.message) from None
        refused = sorted(errors)
        logger.debug("email sent: %d recipients, %d refused", len(recipients), len(refused))
        return SendEmailOut(
            message_id=str(message["Message-ID"]),
            accepted=[r for r in recipients if r not in errors],
            refused=refused,
        )


def message_id(idempotency_key: str | None, from_address: str) -> str:
    """``<smeflow.<hash of the key>@<sender's domain>>``: the same key, the same Message-ID."""
    domain = from_address.rsplit("@", 1)[-1]
    if not idempotency_key:
        return make_msgid("smeflow", domain=domain)
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<smeflow.{digest}@{domain}>"


class _Session:
    """An SMTP connection, logged in, with every failure as a typed error."""

    def __init__(self, ctx: ActionContext) -> None:
        config: EmailConfig = ctx.config
        credentials: EmailCredentials = ctx.credentials
        self.ctx = ctx
        self.where = f"{config.host}:{config.port}"
        self.smtp = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",
            validate_certs=config.verify_certificates,
            timeout=config.timeout_seconds,
        )
        self.username = credentials.username
        self.password = credentials.password

    async def __aenter__(self) -> aiosmtplib.SMTP:
        try:
            await self.smtp.connect()
            await self.smtp.login(self.username, self.password.get_secret_value())
        except BaseException as exc:
            self.smtp.close()
            raise self._translate(exc) from None
        return self.smtp

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        try:
            await self.smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            self.smtp.close()
        if exc is not None and not isinstance(exc, ConnectorError):
            raise self._translate(exc) from None

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, ConnectorError):
            return exc
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return AuthFailed(
                f"the mail server {self.where} refused the user name or password", provider_code=str(exc.code)
            )
        if isinstance(exc, aiosmtplib.SMTPNotSupported):
            return AuthFailed(
                f"the mail server {self.where} does not offer login here (check the security setting)"
            )
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            return _response_error(self.ctx, "the sender address was refused", exc.code, exc.message)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return _response_error(self.ctx, "the mail server refused the message", exc.code, exc.message)
        if _certificate_refused(exc):
            return AuthFailed(
                f"the mail server {self.where}'s TLS certificate could not be verified "
                "(fix the server's certificate, or turn off verify_certificates for a private server)"
            )
        if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
            return Unavailable(f"the mail server {self.where} could not be reached ({type(exc).__name__})")
        return exc


def _certificate_refused(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _response_error(ctx: ActionContext, what: str, code: int, said: str) -> ConnectorError:
    text = ctx.http.redact(" ".join(str(said).split())[:200])
    message = f"{what}: {code} {text}".strip()
    if 400 <= code < 500:
        return Unavailable(f"{message}; try again later", provider_code=str(code))
    return Rejected(message, provider_code=str(code))


__all__ = ["Email", "EmailConfig", "EmailCredentials", "SendEmailIn", "SendEmailOut", "message_id"]
