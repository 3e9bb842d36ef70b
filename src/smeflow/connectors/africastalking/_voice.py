"""AT voice response XML (§4.5), built by a small pure builder::

    VoiceResponse().say("Karibu").get_digits(say="Press 1 to book", num_digits=1).to_xml()

gives ``<?xml version="1.0" encoding="UTF-8"?><Response><Say>Karibu</Say><GetDigits numDigits="1">
<Say>Press 1 to book</Say></GetDigits></Response>`` (on one line). Verbs execute in order;
attributes appear in the order AT documents them; text and attribute values are XML-escaped,
and characters XML 1.0 cannot carry are refused (:class:`VoiceXmlError`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from smeflow.connectors._sdk import WebhookReply

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
VOICE_MEDIA_TYPE = "application/xml"
_FINISH_KEYS = frozenset("0123456789*#")
_URL = re.compile(r"^https?://\S+$")
_DIAL_TARGET = re.compile(r"^(\+[1-9]\d{6,14}|[\w.+-]+@[\w.-]+)$")
# characters XML 1.0 cannot carry at all
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class VoiceXmlError(ValueError):
    """A voice response AT could not execute as written."""


def _text(value: str) -> str:
    if _NOT_XML.search(value):
        raise VoiceXmlError("voice text holds characters XML cannot carry")
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attrs(pairs: Sequence[tuple[str, str | int | bool | None]]) -> str:
    out = []
    for name, value in pairs:
        if value is None:
            continue
        shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append(f' {name}="{_text(shown).replace(chr(34), "&quot;")}"')
    return "".join(out)


def _url(value: str | None, what: str) -> str | None:
    if value is not None and not _URL.match(value):
        raise VoiceXmlError(f"{what} must be an http(s) URL")
    return value


def _finish_key(value: str | None) -> str | None:
    if value is not None and (len(value) != 1 or value not in _FINISH_KEYS):
        raise VoiceXmlError("finish_on_key is one of 0-9, * or #")
    return value


def _positive(value: int | None, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or value < 1):
        raise VoiceXmlError(f"{what} must be a positive whole number")
    return value


def say_element(
    text: str, *, voice: Literal["man", "woman"] | None = None, play_beep: bool | None = None
) -> str:
    """One ``<Say>`` element (also the prompt inside GetDigits and Record)."""
    if voice not in (None, "man", "woman"):
        raise VoiceXmlError("voice is 'man' or 'woman'")
    return f"<Say{_attrs([('voice', voice), ('playBeep', play_beep)])}>{_text(text)}</Say>"


def play_element(url: str) -> str:
    """One ``<Play url="…"/>`` element."""
    return f"<Play{_attrs([('url', _url(url, 'the audio url'))])}/>"


class VoiceResponse:
    """Builds one voice response; every verb method returns the builder (chainable)."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def say(
        self, text: str, *, voice: Literal["man", "woman"] | None = None, play_beep: bool | None = None
    ) -> VoiceResponse:
        """Read ``text`` to the caller (``voice`` "man" or "woman"; ``play_beep`` before it)."""
        self._parts.append(say_element(text, voice=voice, play_beep=play_beep))
        return self

    def play(self, url: str) -> VoiceResponse:
        """Play the audio file at ``url``."""
        self._parts.append(play_element(url))
        return self

    def get_digits(
        self,
        *,
        say: str | None = None,
        play: str | None = None,
        timeout: int | None = None,
        finish_on_key: str | None = None,
        num_digits: int | None = None,
        callback_url: str | None = None,
    ) -> VoiceResponse:
        """Collect key presses after a prompt (``say`` text or ``play`` a URL); AT posts them
        (``dtmfDigits``) to ``callback_url`` or the number's callback. With no input the call
        moves on to the next verb without a callback."""
        attrs = _attrs(
            [
                ("timeout", _positive(timeout, "timeout")),
                ("finishOnKey", _finish_key(finish_on_key)),
                ("numDigits", _positive(num_digits, "num_digits")),
                ("callbackUrl", _url(callback_url, "callback_url")),
            ]
        )
        self._parts.append(f"<GetDigits{attrs}>{_prompt(say, play)}</GetDigits>")
        return self

    def record(
        self,
        *,
        say: str | None = None,
        play: str | None = None,
        finish_on_key: str | None = None,
        max_length: int | None = None,
        timeout: int | None = None,
        trim_silence: bool | None = None,
        play_beep: bool | None = None,
        callback_url: str | None = None,
    ) -> VoiceResponse:
        """Record the caller after a prompt (partial recording; ``recordingUrl`` arrives in the
        next callback). With no prompt and no attribute it is ``<Record/>``: terminal recording."""
        attrs = _attrs(
            [
                ("finishOnKey", _finish_key(finish_on_key)),
                ("maxLength", _positive(max_length, "max_length")),
                ("timeout", _positive(timeout, "timeout")),
                ("trimSilence", trim_silence),
                ("playBeep", play_beep),
                ("callbackUrl", _url(callback_url, "callback_url")),
            ]
        )
        prompt = _prompt(say, play)
        self._parts.append(f"<Record{attrs}>{prompt}</Record>" if prompt else f"<Record{attrs}/>")
        return self

    def dial(
        self,
        phone_numbers: Sequence[str],
        *,
        record: bool | None = None,
        sequential: bool | None = None,
        caller_id: str | None = None,
        ringback_tone: str | None = None,
        max_duration: int | None = None,
    ) -> VoiceResponse:
        """Connect the caller to the first of ``phone_numbers`` (E.164 or SIP addresses) that
        answers (``sequential``: one after another); terminal when answered."""
        targets = list(phone_numbers)
        if not targets or not all(_DIAL_TARGET.match(t) for t in targets):
            raise VoiceXmlError("dial needs E.164 numbers or SIP addresses")
        if caller_id is not None and not _DIAL_TARGET.match(caller_id):
            raise VoiceXmlError("caller_id is an E.164 number")
        attrs = _attrs(
            [
                ("phoneNumbers", ",".join(targets)),
                ("record", record),
                ("sequential", sequential),
                ("callerId", caller_id),
                ("ringbackTone", _url(ringback_tone, "ringback_tone")),
                ("maxDuration", _positive(max_duration, "max_duration")),
            ]
        )
        self._parts.append(f"<Dial{attrs}/>")
        return self

    def redirect(self, url: str) -> VoiceResponse:
        """Hand the call over to the XML another URL answers."""
        self._parts.append(f"<Redirect>{_text(_url(url, 'the redirect url') or '')}</Redirect>")
        return self

    def reject(self) -> VoiceResponse:
        """Refuse an inbound call (it costs nothing)."""
        self._parts.append("<Reject/>")
        return self

    def to_xml(self) -> str:
        """The document: the XML declaration and ``<Response>`` with the verbs in order."""
        return f"{XML_DECLARATION}<Response>{''.join(self._parts)}</Response>"

    def reply(self) -> WebhookReply:
        """The document as the ingress's answer to AT's voice callback (200, XML)."""
        return WebhookReply(status=200, body=self.to_xml().encode(), media_type=VOICE_MEDIA_TYPE)


def _prompt(say: str | None, play: str | None) -> str:
    if say is not None and play is not None:
        raise VoiceXmlError("a prompt is either said or played, not both")
    if say is not None:
        return say_element(say)
    if play is not None:
        return play_element(play)
    return ""


__all__ = [
    "VOICE_MEDIA_TYPE",
    "XML_DECLARATION",
    "VoiceResponse",
    "VoiceXmlError",
    "play_element",
    "say_element",
]
