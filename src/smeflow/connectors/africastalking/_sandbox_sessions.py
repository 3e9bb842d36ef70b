"""The Africa's Talking sandbox's synchronous callbacks: USSD sessions and voice calls.

AT posts a USSD request (or a voice callback) and *waits for the answer*, so these are not the
fire-and-forget :class:`CallbackSender` kind: each post is awaited and recorded with its reply
as an :class:`Exchange`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

import httpx

FORM = "application/x-www-form-urlencoded"
#: the network code AT's simulator (Athena) uses (§4.3)
SIMULATOR_NETWORK = "99999"


@dataclass(slots=True)
class Exchange:
    """One synchronous callback the sandbox made: what it posted and what the app answered."""

    kind: str  # "ussd" or "voice"
    url: str
    form: dict[str, str]
    status: int | None = None
    content_type: str | None = None
    reply: str = ""
    error: str | None = None
    at: float = field(default_factory=time.time)


@dataclass(slots=True)
class UssdSession:
    """A USSD session as AT keeps it: every input so far, joined with ``*`` in ``text``."""

    session_id: str
    phone: str
    service_code: str
    inputs: list[str] = field(default_factory=list)
    ended: bool = False
    #: why AT ended it when the app's reply was not ``CON``/``END`` (AT's words)
    error: str | None = None

    @property
    def text(self) -> str:
        return "*".join(self.inputs)


@dataclass(slots=True)
class VoiceCall:
    """A call the sandbox simulates; ``replies`` are the XML documents the app answered."""

    session_id: str
    phone: str
    direction: str  # "Inbound" or "Outbound"
    voice_number: str
    active: bool = True
    replies: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


def new_ussd_id() -> str:
    return f"ATUid_{secrets.token_hex(16)}"


def new_voice_id() -> str:
    return f"ATVId_{secrets.token_hex(16)}"


async def post_form(kind: str, url: str, form: dict[str, str]) -> Exchange:
    """POST ``form`` to ``url`` as AT does and record the answer (a failure is recorded too)."""
    exchange = Exchange(kind, url, dict(form))
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(
                url, content=urlencode(form).encode(), headers={"Content-Type": FORM}
            )
    except httpx.HTTPError as exc:
        exchange.error = type(exc).__name__
        return exchange
    exchange.status = response.status_code
    exchange.content_type = response.headers.get("content-type")
    exchange.reply = response.text
    return exchange


def ussd_form(session: UssdSession) -> dict[str, str]:
    """The request AT posts for the session's current step (§4.4)."""
    return {
        "sessionId": session.session_id,
        "serviceCode": session.service_code,
        "phoneNumber": session.phone,
        "networkCode": SIMULATOR_NETWORK,
        "text": session.text,
    }


def read_ussd_reply(session: UssdSession, exchange: Exchange) -> str:
    """Apply the app's reply to the session as AT does: ``CON`` continues, ``END`` ends, and
    anything else (an error status, an empty or differently-started body) ends it in error.
    Returns the text shown to the user."""
    body = exchange.reply
    if exchange.status == 200 and body.startswith("CON "):
        return body[4:]
    if exchange.status == 200 and (body.startswith("END ") or body == "END"):
        session.ended = True
        return body[4:]
    session.ended = True
    session.error = "Response should start with a CON or an END"
    return ""


def voice_form(call: VoiceCall, **extra: str) -> dict[str, str]:
    """A voice callback for ``call`` (§4.5) with ``extra`` fields (``dtmfDigits``…)."""
    inbound = call.direction == "Inbound"
    form = {
        "isActive": "1" if call.active else "0",
        "sessionId": call.session_id,
        "direction": call.direction,
        "callerNumber": call.phone if inbound else call.voice_number,
        "destinationNumber": call.voice_number if inbound else call.phone,
    }
    form.update(extra)
    return form


def final_voice_form(call: VoiceCall) -> dict[str, str]:
    """The last callback of a call: not active, with its duration and cost."""
    call.active = False
    seconds = max(1, int(time.monotonic() - call.started))
    return voice_form(
        call,
        callSessionState="Completed",
        durationInSeconds=str(seconds),
        currencyCode="KES",
        amount=f"{Decimal(seconds) * Decimal('0.05'):.4f}",
        hangupCause="NORMAL_CLEARING",
    )


__all__ = [
    "FORM",
    "SIMULATOR_NETWORK",
    "Exchange",
    "UssdSession",
    "VoiceCall",
    "final_voice_form",
    "new_ussd_id",
    "new_voice_id",
    "post_form",
    "read_ussd_reply",
    "ussd_form",
    "voice_form",
]
