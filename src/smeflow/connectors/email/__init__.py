"""Email over SMTP: the ``email`` connector and an SMTP sandbox.

Key contracts:

* ``check()`` connects (STARTTLS, TLS, or plain for local servers) and logs in; a refused
  password is :class:`~smeflow.connectors.AuthFailed` (``provider_code`` = the SMTP code, 535).
* ``send_email`` (write) derives the Message-ID from the step's idempotency key, so a repeated
  send carries the same Message-ID and can be recognised by the server, the recipient's client
  and our own journal; it returns that id. A recipient refused with 5xx is
  :class:`~smeflow.connectors.Rejected` (when every recipient is refused) or listed in
  ``refused``; 4xx answers are :class:`~smeflow.connectors.Unavailable` (try later).
* The password never appears in a log, an error or an output.
"""

from smeflow.connectors.email._connector import (
    Email,
    EmailConfig,
    EmailCredentials,
    SendEmailIn,
    SendEmailOut,
    message_id,
)
from smeflow.connectors.email._sandbox import SandboxMail, SmtpSandbox

__all__ = [
    "Email",
    "EmailConfig",
    "EmailCredentials",
    "SandboxMail",
    "SendEmailIn",
    "SendEmailOut",
    "SmtpSandbox",
    "message_id",
]
