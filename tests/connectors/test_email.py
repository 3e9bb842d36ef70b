"""The SMTP email connector against the SMTP sandbox (aiosmtpd) over real SMTP on loopback."""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    ConnectorError,
    HttpFactory,
    InboundRequest,
    Integration,
    Rejected,
    Unavailable,
)
from smeflow.connectors.email import Email, EmailConfig, EmailCredentials, SmtpSandbox, message_id
from smeflow.connectors.sandbox import free_port
from smeflow.connectors.testing import ConnectorConformance

USER = "bookings@amani.co.ke"
PASSWORD = "smtp-app-password-5e7d1c"


@pytest.fixture
def smtp() -> Iterator[SmtpSandbox]:
    with SmtpSandbox(username=USER, password=PASSWORD) as server:
        yield server


def email_integration(server: SmtpSandbox, password: str = PASSWORD, port: int | None = None) -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="email",
        config=EmailConfig(
            host=server.host,
            port=port or server.port,
            security="none",
            from_address="bookings@amani.co.ke",
            from_name="Amani Hair & Beauty",
            timeout_seconds=10,
        ),
        credentials=EmailCredentials(username=USER, password=SecretStr(password)),
    )


@pytest.fixture
async def factory() -> object:
    made = HttpFactory()
    yield made
    await made.aclose()


def ctx_for(
    factory: HttpFactory, integration: Integration, key: str | None = "run-9:confirm"
) -> ActionContext:
    return ActionContext(integration, factory.for_integration(Email(), integration), idempotency_key=key)


class TestEmailConformance(ConnectorConformance):
    connector_class = Email

    @pytest.fixture
    def integration(self, smtp: SmtpSandbox) -> Integration:
        return email_integration(smtp)

    @pytest.fixture
    def bad_integration(self, smtp: SmtpSandbox) -> Integration:
        return email_integration(smtp, password="not-the-password")

    @pytest.fixture
    def webhook_delivery(self) -> InboundRequest | None:
        return None


async def test_a_sent_email_is_recorded_with_the_right_headers(
    smtp: SmtpSandbox, factory: HttpFactory
) -> None:
    out = await Email().call(
        "send_email",
        ctx_for(factory, email_integration(smtp)),
        {
            "to": ["wanjiru@example.com"],
            "cc": ["manager@example.com"],
            "reply_to": "desk@amani.co.ke",
            "subject": "Your booking on Friday at 10:00",
            "text": "Karibu! See you on Friday.",
            "html": "<p>Karibu! See you on <b>Friday</b>.</p>",
        },
    )
    dumped = out.model_dump()
    assert dumped["message_id"] == message_id("run-9:confirm", "bookings@amani.co.ke")
    assert dumped["message_id"].endswith("@amani.co.ke>")
    assert (dumped["accepted"], dumped["refused"]) == (["wanjiru@example.com", "manager@example.com"], [])
    (mail,) = smtp.messages
    assert mail.login == USER
    assert mail.mail_from == "bookings@amani.co.ke"
    assert mail.rcpt_tos == ["wanjiru@example.com", "manager@example.com"]
    (sender,) = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Amani Hair & Beauty", "bookings@amani.co.ke")
    assert (mail["To"], mail["Cc"], mail["Reply-To"]) == (
        "wanjiru@example.com",
        "manager@example.com",
        "desk@amani.co.ke",
    )
    assert mail["Subject"] == "Your booking on Friday at 10:00"
    assert mail["Message-ID"] == dumped["message_id"]
    assert mail["Date"] is not None
    text = mail.message.get_body(("plain",))
    html = mail.message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == "Karibu! See you on Friday."
    assert "<b>Friday</b>" in html.get_content()


async def test_a_repeated_step_sends_the_same_message_id(smtp: SmtpSandbox, factory: HttpFactory) -> None:
    data = {"to": ["wanjiru@example.com"], "subject": "Receipt", "text": "Asante"}
    ctx = ctx_for(factory, email_integration(smtp))
    first = await Email().call("send_email", ctx, data)
    again = await Email().call("send_email", ctx, data)
    other = await Email().call(
        "send_email", ctx_for(factory, email_integration(smtp), key="run-9:other"), data
    )
    assert (
        first.model_dump()["message_id"]
        == again.model_dump()["message_id"]
        != other.model_dump()["message_id"]
    )
    assert smtp.repeated == [first.model_dump()["message_id"]]


async def test_a_bad_password_is_auth_failed_535(smtp: SmtpSandbox, factory: HttpFactory) -> None:
    with pytest.raises(AuthFailed) as caught:
        await Email().call(
            "send_email",
            ctx_for(factory, email_integration(smtp, password="wrong-password")),
            {"to": ["a@example.com"], "subject": "x", "text": "y"},
        )
    assert caught.value.provider_code == "535"
    assert smtp.messages == []


async def test_a_refused_recipient_is_rejected_550_and_a_partial_refusal_is_reported(
    smtp: SmtpSandbox, factory: HttpFactory
) -> None:
    ctx = ctx_for(factory, email_integration(smtp))
    with pytest.raises(Rejected) as caught:
        await Email().call("send_email", ctx, {"to": ["refuse@example.com"], "subject": "x", "text": "y"})
    assert caught.value.provider_code == "550"
    assert "User unknown" in caught.value.message
    smtp.refused.add("gone@example.com")
    out = await Email().call(
        "send_email", ctx, {"to": ["wanjiru@example.com", "gone@example.com"], "subject": "x", "text": "y"}
    )
    assert (out.model_dump()["accepted"], out.model_dump()["refused"]) == (
        ["wanjiru@example.com"],
        ["gone@example.com"],
    )
    assert smtp.messages[0].rcpt_tos == ["wanjiru@example.com"]


async def test_temporary_refusals_and_an_unreachable_server_are_unavailable(
    smtp: SmtpSandbox, factory: HttpFactory
) -> None:
    ctx = ctx_for(factory, email_integration(smtp))
    with pytest.raises(Unavailable) as caught:
        await Email().call("send_email", ctx, {"to": ["busy@example.com"], "subject": "x", "text": "y"})
    assert caught.value.provider_code == "451"
    smtp.script("data", "554 5.7.1 Message rejected as spam")
    with pytest.raises(Rejected) as rejected:
        await Email().call("send_email", ctx, {"to": ["a@example.com"], "subject": "x", "text": "y"})
    assert rejected.value.provider_code == "554"
    with pytest.raises(Unavailable):
        await Email().check(ctx_for(factory, email_integration(smtp, port=free_port())))


@pytest.mark.parametrize(
    "data",
    [
        {"to": [], "subject": "x", "text": "y"},
        {"to": ["not-an-address"], "subject": "x", "text": "y"},
        {"to": ["a@example.com"], "subject": "Hi\r\nBcc: everyone@example.com", "text": "y"},
    ],
)
async def test_bad_input_is_refused_before_connecting(
    smtp: SmtpSandbox, factory: HttpFactory, data: dict[str, object]
) -> None:
    with pytest.raises(Rejected):
        await Email().call("send_email", ctx_for(factory, email_integration(smtp)), data)
    assert smtp.messages == []


async def test_no_credential_reaches_logs_outputs_or_errors(
    smtp: SmtpSandbox, factory: HttpFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    good = email_integration(smtp)
    bad = email_integration(smtp, password="wrong-password-31337")
    shown = [repr(good), repr(good.credentials)]
    out = await Email().call(
        "send_email", ctx_for(factory, good), {"to": ["a@example.com"], "subject": "x", "text": "y"}
    )
    shown.append(out.model_dump_json())
    for integration, to in ((bad, "a@example.com"), (good, "refuse@example.com")):
        with pytest.raises(ConnectorError) as caught:
            await Email().call(
                "send_email", ctx_for(factory, integration), {"to": [to], "subject": "x", "text": "y"}
            )
        shown.append(f"{caught.value} {caught.value!r} {caught.value.extra}")
    assert caplog.records
    everything = caplog.text + " ".join(shown)
    for secret in (PASSWORD, "wrong-password-31337"):
        assert secret not in everything


async def test_the_sandbox_refuses_mail_from_a_client_that_did_not_log_in(smtp: SmtpSandbox) -> None:
    client = aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, start_tls=False, timeout=10)
    await client.connect()
    try:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
            await client.sendmail("x@example.com", ["a@example.com"], b"Subject: x\r\n\r\ny")
        assert caught.value.code == 530
    finally:
        client.close()
    assert smtp.messages == []


def self_signed() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as name_of_folder:  # tests leave no files behind
        folder = Path(name_of_folder)
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


async def test_starttls_upgrades_before_logging_in(factory: HttpFactory) -> None:
    with SmtpSandbox(username=USER, password=PASSWORD, tls_context=self_signed()) as server:
        plain = email_integration(server)
        config = plain.config.model_copy(update={"security": "starttls", "verify_certificates": False})
        integration = dataclasses.replace(plain, config=config)
        await Email().call(
            "send_email",
            ctx_for(factory, integration),
            {"to": ["a@example.com"], "subject": "tls", "text": "y"},
        )
        verified = dataclasses.replace(plain, config=plain.config.model_copy(update={"security": "starttls"}))
        with pytest.raises(
            AuthFailed, match="certificate"
        ):  # self-signed: refused when certificates are checked
            await Email().check(ctx_for(factory, verified))
    assert [m["Subject"] for m in server.messages] == ["tls"]
