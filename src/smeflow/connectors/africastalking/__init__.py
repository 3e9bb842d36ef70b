"""Africa's Talking: SMS, voice calls, and the SMS / USSD / voice callbacks (protocols_africa.md §4).

Key contracts:

* Requests are form-encoded with ``apiKey`` and ``Accept: application/json`` headers and the
  application's ``username`` (``sandbox`` on AT's sandbox). SMS and the application data live on
  ``base_url`` (``https://api.africastalking.com``), calls on the voice host (``voice_base_url``,
  or derived from ``base_url``: AT's live or sandbox voice host, or the same local sandbox).
* ``send_sms`` reports per recipient (a status code of 100/101/102 is *accepted*, not
  delivered); it is refused only when no recipient is accepted. AT has no idempotency key for
  SMS or calls: they are sent once, never retried, and the engine's journal prevents repeats.
* Costs (``"KES 0.8000"``) become integer minor units when exact; otherwise only the text is kept.
* AT signs no callback (``webhook_auth = "token"``): the ingress trusts the URL's token. Each
  callback is one event: ``message.status`` (event id = message id + status),
  ``message.received`` (= message id), ``ussd.session`` (= session id + the accumulated text,
  so each step is its own event), ``voice.call`` (= session id + step + a digest of the form).
* The ``inbound_sms`` polling trigger reads AT's inbox (``lastReceivedId`` is the cursor) into
  the same ``message.received`` events, so an inbound SMS whose callback was lost is found.
* Replies: USSD is ``text/plain`` ``CON …``/``END …`` (:func:`ussd_reply`, at most 182
  characters), voice is XML from :class:`VoiceResponse`, anything else 200 ``text/plain``.
"""

from smeflow.connectors.africastalking._connector import AfricasTalking
from smeflow.connectors.africastalking._models import (
    AfricasTalkingConfig,
    AfricasTalkingCredentials,
    CallEntry,
    Cost,
    MakeCallIn,
    MakeCallOut,
    SendSmsIn,
    SendSmsOut,
    SmsRecipient,
)
from smeflow.connectors.africastalking._sandbox import AfricasTalkingSandbox
from smeflow.connectors.africastalking._sms import STATUS_NAMES, parse_cost
from smeflow.connectors.africastalking._ussd import MAX_TEXT_CHARS, UssdTextError, ussd_inputs, ussd_reply
from smeflow.connectors.africastalking._voice import VoiceResponse, VoiceXmlError

__all__ = [
    "MAX_TEXT_CHARS",
    "STATUS_NAMES",
    "AfricasTalking",
    "AfricasTalkingConfig",
    "AfricasTalkingCredentials",
    "AfricasTalkingSandbox",
    "CallEntry",
    "Cost",
    "MakeCallIn",
    "MakeCallOut",
    "SendSmsIn",
    "SendSmsOut",
    "SmsRecipient",
    "UssdTextError",
    "VoiceResponse",
    "VoiceXmlError",
    "parse_cost",
    "ussd_inputs",
    "ussd_reply",
]
