"""A local Africa's Talking: SMS, application data, voice calls, and the callbacks AT makes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors.africastalking._sandbox_controls import SandboxControls
from smeflow.connectors.africastalking._sandbox_sessions import (
    FORM,
    SIMULATOR_NETWORK,
    Exchange,
    UssdSession,
    VoiceCall,
    new_voice_id,
)
from smeflow.connectors.africastalking._sms import ACCEPTED, STATUS_NAMES
from smeflow.connectors.sandbox._base import Sandbox

_AT_NUMBER = re.compile(r"^\+\d{1,3}\d{3,}$")  # what AT's SDK accepts (§4.2)
_STATUS_MAGIC = re.compile(r"^\+254700000(\d{3})$")
#: per-part SMS prices by country prefix (sandbox figures, in AT's "CUR amount" form)
_PRICES = (
    ("+254", "KES", Decimal("0.8000")),
    ("+234", "NGN", Decimal("4.0000")),
    ("+256", "UGX", Decimal("25")),
)
_DEFAULT_PRICE = ("USD", Decimal("0.0100"))
_DELIVERY_MAGIC: dict[str, Any] = {
    "+254700009001": "drop",
    "+254700009002": "twice",
    "+254700009003": "delay",
    "+254700009004": ("Failed", "DeliveryFailure"),
    "+254700009005": ("Rejected", "UserInBlackList"),
    "+254700009006": "buffered",
}


class AfricasTalkingSandbox(SandboxControls, Sandbox):
    """Africa's Talking's SMS, voice and callbacks on loopback (see ``scenarios``)."""

    key = "africastalking"
    title = "Africa's Talking"
    scenarios = """\
Auth: header `apiKey` must be the sandbox's key (constructor `api_key`, default
`at-sandbox-key-0001`) and the form field / query `username` its username (default `sandbox`),
else 401 text/plain "The supplied authentication is invalid". Requests must send
`Accept: application/json` (else 406) and, for POSTs, a form-encoded body (else 415).

Routes (AT's own): GET /version1/user (application data, balance `KES 1000.0000`),
POST /version1/messaging (send SMS, 201 with per-recipient statuses), POST /call (voice).

Send SMS statuses:
* `+254700000CCC` gets statusCode CCC when CCC is one of AT's codes (101 sent, 102 queued,
  401 risk hold, 402 invalid sender, 403 invalid number, 404, 405 insufficient balance,
  406 blacklisted, 407 could not route, 409, 500, 501, 502); any other number gets 101.
* a number AT's SDK would not accept (not `+` and digits) gets 403 InvalidPhoneNumber.
* `from` = `INVALID` → 201 {"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}.
* `script("sms_status", 405, …)`: the status codes of the next recipients, whatever their number.
* `script("http", 503 | 400 | "garbage", …)`: the next authenticated API requests (SMS, user
  data, calls) answer that HTTP status in text/plain, or 201 with a body that is not JSON.

Controls under /sandbox/ are the sandbox's own (AT has none). Callback URLs (AT's dashboard
settings): constructor arguments `delivery_report_url`,
`inbound_sms_url`, `ussd_url`, `voice_url`, or POST /sandbox/callbacks with JSON
{"delivery_report": url, "inbound_sms": url, "ussd": url, "voice": url} (any subset).

Delivery reports (form-encoded: id, status, phoneNumber, networkCode, retryCount,
failureReason) are posted for each accepted recipient: `Success` by default;
`+254700009001` dropped, `…9002` sent twice, `…9003` sent after `delay_seconds` (default 1),
`…9004` Failed/DeliveryFailure, `…9005` Rejected/UserInBlackList, `…9006` Buffered then Success.
`script("delivery", X, …)` sets the next reports: "drop", "twice", "delay", "buffered" or a
(status, failureReason) pair.

Inbound SMS: POST /sandbox/sms/inbound {"from", "text", "to"?} keeps the message in the inbox
(GET /version1/messaging?username=…&lastReceivedId=N answers the messages with ids above N, 100 at
most) and posts AT's incoming-message form (date, from, id, text, to, networkCode) to
`inbound_sms`; `script("callback", "drop" | "twice" | "delay")` steers that callback (a dropped
one is still in the inbox) and the answered-call callback of an outbound call.

USSD: POST /sandbox/ussd/sessions {"phone", "service_code"?} starts a session (AT posts text "");
POST /sandbox/ussd/sessions/{id} {"input"} sends the next input (AT posts every input so far
joined with `*`, e.g. `1*2`). Each answers {"session_id", "text", "status", "content_type",
"reply", "message", "ended", "error"}; a reply not starting `CON `/`END ` ends the session like
AT does. `script("ussd", "twice")` posts the next request twice (AT retrying). Requests and
replies are kept in `exchanges`.

Voice: POST /call queues calls (`to` not `+` and digits → InvalidPhoneNumber; no `from` →
errorMessage "Invalid callerId") and, with a `voice` URL, posts each answered call's first
callback, keeping the app's XML (`voice_calls[session].replies`, `exchanges`).
POST /sandbox/voice/calls {"phone", "direction"?: "Inbound"} makes an inbound call;
POST /sandbox/voice/calls/{id} {"digits"? | "recording"?: true | "hangup"?: true} posts the next
callback (dtmfDigits, recordingUrl, or the final isActive=0 with duration and cost). Each answers
{"session_id", "status", "content_type", "reply"} with the app's XML, also kept in `exchanges`.
"""

    def __init__(
        self,
        *,
        api_key: str = "at-sandbox-key-0001",
        username: str = "sandbox",
        voice_number: str = "+254711082000",
        delivery_report_url: str | None = None,
        inbound_sms_url: str | None = None,
        ussd_url: str | None = None,
        voice_url: str | None = None,
        delay_seconds: float = 1.0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.username = username
        self.voice_number = voice_number
        self.delay_seconds = delay_seconds
        self.urls: dict[str, str | None] = {
            "delivery_report": delivery_report_url,
            "inbound_sms": inbound_sms_url,
            "ussd": ussd_url,
            "voice": voice_url,
        }
        #: accepted messages by message id: {"number", "message", "from"}
        self.messages: dict[str, dict[str, Any]] = {}
        self.ussd_sessions: dict[str, UssdSession] = {}
        self.voice_calls: dict[str, VoiceCall] = {}
        #: every synchronous USSD / voice callback and the app's reply
        self.exchanges: list[Exchange] = []
        self.inbox: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/version1/user", self._user, methods=["GET"]),
            Route("/version1/messaging", self._send_sms, methods=["POST"]),
            Route("/version1/messaging", self._fetch_messages, methods=["GET"]),
            Route("/call", self._call, methods=["POST"]),
            *self.control_routes(),
        ]

    def app(self) -> Starlette:
        """The base app, plus: outbound-call answers still running are cancelled at shutdown."""

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            for task in list(self._tasks):
                task.cancel()
            await self.callbacks.aclose()

        return Starlette(routes=self.routes(), lifespan=lifespan)

    # --- AT's API -------------------------------------------------------------------------

    def _refuse(self, request: Request, username: str | None) -> Response | None:
        if "application/json" not in request.headers.get("accept", ""):
            return PlainTextResponse("this sandbox answers JSON only: send Accept: application/json", 406)
        key = request.headers.get("apikey")
        if key is None or not secrets.compare_digest(key, self.api_key) or username != self.username:
            return PlainTextResponse(
                "The supplied authentication is invalid",
                401,
                headers={"WWW-Authenticate": 'Basic realm="api"'},
            )
        outage = self.scripted("http")
        if outage == "garbage":
            return PlainTextResponse("<html>gateway</html>", 201)
        if outage is not None:
            return PlainTextResponse(f"sandbox answer {outage}", int(outage))
        return None

    async def _form(self, request: Request) -> dict[str, str] | Response:
        if not request.headers.get("content-type", "").startswith(FORM):
            return PlainTextResponse(f"send the request as {FORM}", 415)
        try:
            return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return PlainTextResponse("the body is not form-encoded", 400)

    async def _user(self, request: Request) -> Response:
        self.record("GET", "/version1/user", dict(request.query_params))
        refused = self._refuse(request, request.query_params.get("username"))
        return refused or JSONResponse({"UserData": {"balance": "KES 1000.0000"}})

    async def _fetch_messages(self, request: Request) -> Response:
        self.record("GET", "/version1/messaging", dict(request.query_params))
        refused = self._refuse(request, request.query_params.get("username"))
        if refused:
            return refused
        try:
            after = int(request.query_params.get("lastReceivedId") or 0)
        except ValueError:
            return PlainTextResponse("lastReceivedId must be a number", 400)
        page = [m for m in self.inbox if m["id"] > after][:100]
        return JSONResponse({"SMSMessageData": {"Messages": page}})

    async def _send_sms(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        self.record("POST", "/version1/messaging", form)
        refused = self._refuse(request, form.get("username"))
        if refused:
            return refused
        for name in ("to", "message"):
            if not form.get(name):
                return PlainTextResponse(f"Request is missing required form field '{name}'", 400)
        if form.get("from") == "INVALID":
            return JSONResponse({"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}, 201)
        message = form["message"]
        parts = max(1, math.ceil(len(message) / (160 if message.isascii() else 70)))
        recipients, total, currency = [], Decimal(0), None
        for number in [n.strip() for n in form["to"].split(",") if n.strip()]:
            code = self._status_for(number)
            entry: dict[str, Any] = {"number": number, "statusCode": code}
            if code in ACCEPTED:
                currency_here, price = next(
                    ((cur, p) for prefix, cur, p in _PRICES if number.startswith(prefix)), _DEFAULT_PRICE
                )
                cost = price * parts
                currency = currency or currency_here
                total += cost if currency_here == currency else 0
                message_id = f"ATXid_{secrets.token_hex(16)}"
                entry.update(status="Success", cost=f"{currency_here} {cost:.4f}", messageId=message_id)
                self.messages[message_id] = {"number": number, "message": message, "from": form.get("from")}
                self._deliver(message_id, number)
            else:
                entry.update(status=STATUS_NAMES[code], cost="0", messageId="None")
            recipients.append(entry)
        sent = sum(1 for r in recipients if r["statusCode"] in ACCEPTED)
        cost_text = f"{currency or 'KES'} {total:.4f}"
        summary = f"Sent to {sent}/{len(recipients)} Total Cost: {cost_text} Message parts: {parts}"
        return JSONResponse({"SMSMessageData": {"Message": summary, "Recipients": recipients}}, 201)

    def _status_for(self, number: str) -> int:
        scripted = self.scripted("sms_status")
        if scripted is not None:
            return int(scripted)
        if not _AT_NUMBER.match(number):
            return 403
        magic = _STATUS_MAGIC.match(number)
        if magic and int(magic.group(1)) in STATUS_NAMES:
            return int(magic.group(1))
        return 101

    def _deliver(self, message_id: str, number: str) -> None:
        url = self.urls["delivery_report"]
        if url is None:
            return
        plan = self.scripted("delivery") or _DELIVERY_MAGIC.get(number)
        form = {"id": message_id, "phoneNumber": number, "networkCode": SIMULATOR_NETWORK, "retryCount": "0"}
        if plan == "buffered":
            self.post_later(url, {**form, "status": "Buffered"}, None)
            self.post_later(url, {**form, "status": "Success"}, None, extra_delay=0.2)
            return
        if isinstance(plan, tuple | list):
            status, reason = plan
            form.update(status=status, failureReason=reason)
            self.post_later(url, form, None)
        else:
            self.post_later(url, {**form, "status": "Success"}, plan)

    async def _call(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        self.record("POST", "/call", form)
        refused = self._refuse(request, form.get("username"))
        if refused:
            return refused
        if not form.get("from"):
            return JSONResponse({"entries": [], "errorMessage": "Invalid callerId"})
        entries = []
        for number in [n.strip() for n in form.get("to", "").split(",") if n.strip()]:
            if not _AT_NUMBER.match(number):
                entries.append({"phoneNumber": number, "status": "InvalidPhoneNumber", "sessionId": "None"})
                continue
            call = VoiceCall(new_voice_id(), number, "Outbound", form["from"])
            self.voice_calls[call.session_id] = call
            entries.append({"phoneNumber": number, "status": "Queued", "sessionId": call.session_id})
            self.answer_call_later(call, self.scripted("callback"))
        return JSONResponse({"entries": entries, "errorMessage": "None"})


__all__ = ["AfricasTalkingSandbox"]
