"""The SMTP sandbox: a local mail server (aiosmtpd) with AUTH PLAIN/LOGIN that checks one user
name and password and records every message it accepts.

It is not a Starlette :class:`~smeflow.connectors.sandbox.Sandbox` (SMTP is not HTTP) but keeps
its spirit: ``start()``/``stop()`` (or ``with``) on loopback in a thread of its own, ``messages``
recorded for a test to read, documented scenario controls and :meth:`script`.
"""

from __future__ import annotations

import email
import email.policy
import hmac
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, ClassVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from smeflow.connectors.sandbox._base import free_port


@dataclass(slots=True)
class SandboxMail:
    """One message the sandbox accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.message = parsed

    def __getitem__(self, header: str) -> Any:
        return self.message[header]


class SmtpSandbox:
    """See ``scenarios``."""

    key: ClassVar[str] = "email"
    title: ClassVar[str] = "SMTP mail server"
    scenarios: ClassVar[str] = """\
SMTP on loopback (host 127.0.0.1, `port`; security "none": plain TCP, AUTH allowed without TLS,
or pass tls_context= to offer STARTTLS). AUTH PLAIN or LOGIN is required; only `username` /
`password` pass (else 535 5.7.8).
Magic recipients (the local part): refuse@… → 550 5.1.1 (unknown user); busy@… → 451 4.3.0
(try later); any address in `refused` is refused with 550 too.
script("data", "554 5.7.1 Message rejected") answers the next DATA with that line.
Every accepted message is in `messages` (SandboxMail: mail_from, rcpt_tos, raw, login, message,
mail["Subject"]); a Message-ID seen before is also counted in `repeated`.
"""

    def __init__(
        self,
        *,
        username: str = "sandbox@smeflow.example",
        password: str = "sandbox-smtp-password",  # noqa: S107 (the sandbox's own test value)
        host: str = "127.0.0.1",
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.host = host
        self.port = port or free_port(host)
        self.messages: list[SandboxMail] = []
        self.repeated: list[str] = []
        self.refused: set[str] = set()
        self._scripted: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        extra: dict[str, Any] = {}
        if tls_context is not None:
            extra["tls_context"] = tls_context
        self._controller = Controller(
            self,
            hostname=host,
            port=self.port,
            authenticator=self._authenticate,
            # AUTH over plain TCP for the local sandbox; it is required in handle_MAIL (aiosmtpd's
            # own auth_required=True without TLS warns on every connection)
            auth_required=False,
            auth_require_tls=False,
            server_hostname="smtp.sandbox.smeflow",
            **extra,
        )

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> SmtpSandbox:
        """Listen on ``host:port`` (in a thread of its own) until :meth:`stop`."""
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, name: str, *answers: Any) -> None:
        """Queue answers for a named decision point (``data``)."""
        with self._lock:
            self._scripted.setdefault(name, []).extend(answers)

    def _scripted_answer(self, name: str) -> Any:
        with self._lock:
            queue = self._scripted.get(name)
            return queue.pop(0) if queue else None

    # --- SMTP hooks (called by aiosmtpd in its own loop) -------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        good = hmac.compare_digest(auth_data.login, self.username.encode()) and hmac.compare_digest(
            auth_data.password, self.password.encode()
        )
        return AuthResult(success=good, handled=False, auth_data=auth_data.login.decode() if good else None)

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local = address.split("@", 1)[0].lower()
        if local == "refuse" or address.lower() in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local == "busy":
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        scripted = self._scripted_answer("data")
        if scripted:
            return str(scripted)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        login = session.auth_data if isinstance(session.auth_data, str) else None
        mail = SandboxMail(str(envelope.mail_from), list(envelope.rcpt_tos), raw, login)
        with self._lock:
            message_id = str(mail["Message-ID"] or "")
            if message_id and any(str(m["Message-ID"]) == message_id for m in self.messages):
                self.repeated.append(message_id)
            self.messages.append(mail)
        return "250 2.0.0 OK: queued"


__all__ = ["SandboxMail", "SmtpSandbox"]
