"""USSD replies (§4.4): ``CON …`` keeps the session open and shows a menu, ``END …`` closes it.

A pure API for whatever decides the menu text (the conversation engine of the channels work):
:func:`ussd_reply` gives the :class:`WebhookReply` the ingress answers AT with, and
:func:`ussd_inputs` splits AT's accumulated ``text`` (``"1*2*0712345678"``) into the inputs.
"""

from __future__ import annotations

from smeflow.connectors._sdk import WebhookReply

#: AT gives no hard limit; telcos cut prompts at about 182 characters (§4.4, unverified), so
#: longer text is refused rather than cut by the network mid-menu
MAX_TEXT_CHARS = 182
USSD_MEDIA_TYPE = "text/plain"


class UssdTextError(ValueError):
    """A USSD reply text that AT or the telco would not show as written."""


def ussd_reply(text: str, end: bool) -> WebhookReply:
    """The reply to one USSD request: ``CON <text>`` (``end=False``: wait for the user's next
    input) or ``END <text>`` (``end=True``: the session closes). Lines are separated by ``\\n``.

    :class:`UssdTextError` when ``text`` is longer than :data:`MAX_TEXT_CHARS`, holds control
    characters other than newlines, or is empty for a ``CON`` menu.
    """
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(normalised) > MAX_TEXT_CHARS:
        raise UssdTextError(
            f"a USSD reply is at most {MAX_TEXT_CHARS} characters; this one has {len(normalised)}"
        )
    if any(ord(ch) < 32 and ch != "\n" for ch in normalised) or "\x7f" in normalised:
        raise UssdTextError("a USSD reply may hold no control characters other than newlines")
    if not end and not normalised.strip():
        raise UssdTextError("a CON reply needs a menu or a question to show")
    prefix = "END" if end else "CON"
    return WebhookReply(status=200, body=f"{prefix} {normalised}".encode(), media_type=USSD_MEDIA_TYPE)


def ussd_inputs(text: str) -> list[str]:
    """The user's inputs so far, from AT's ``text`` (``""`` → ``[]``, ``"1*2"`` → ``["1", "2"]``)."""
    return text.split("*") if text else []


__all__ = ["MAX_TEXT_CHARS", "USSD_MEDIA_TYPE", "UssdTextError", "ussd_inputs", "ussd_reply"]
