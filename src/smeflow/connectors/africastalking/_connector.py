"""The Africa's Talking connector: SMS, voice calls, and SMS / USSD / voice callbacks."""

from __future__ import annotations

import logging
from typing import Any, NoReturn, cast

import httpx

from smeflow.connectors._errors import AuthFailed, InvalidResponse, Rejected, Unavailable
from smeflow.connectors._http import json_body
from smeflow.connectors._sdk import (
    ActionContext,
    Connector,
    InboundRequest,
    Integration,
    PollResult,
    WebhookEvent,
    WebhookReply,
    action,
    polling,
)
from smeflow.connectors.africastalking._models import (
    AT_SANDBOX_API_URL,
    AT_SANDBOX_VOICE_URL,
    LIVE_API_URL,
    LIVE_VOICE_URL,
    AfricasTalkingConfig,
    AfricasTalkingCredentials,
    BalanceIn,
    BalanceOut,
    CallEntry,
    MakeCallIn,
    MakeCallOut,
    SendSmsIn,
    SendSmsOut,
)
from smeflow.connectors.africastalking._sms import parse_cost, read_send_answer
from smeflow.connectors.africastalking._ussd import ussd_reply
from smeflow.connectors.africastalking._voice import VoiceResponse
from smeflow.connectors.africastalking._webhooks import classify, parse_callback

logger = logging.getLogger(__name__)

SMS_PATH = "/version1/messaging"
USER_PATH = "/version1/user"
CALL_PATH = "/call"
_PLAIN_OK = WebhookReply(status=200, body=b"OK", media_type="text/plain")


class AfricasTalking(Connector):
    """See the package docstring."""

    key = "africastalking"
    version = "1.0.0"
    title = "Africa's Talking"
    description = "Send SMS and make voice calls; receive SMS, delivery reports, USSD sessions and calls."
    default_base_url = LIVE_API_URL
    credentials_model = AfricasTalkingCredentials
    config_model = AfricasTalkingConfig
    countries = ("KE", "NG", "UG", "TZ", "RW", "MW", "ZM", "ET", "GH", "CI", "SN", "CM", "ZA")
    #: AT signs no callback (§4.6): deliveries are trusted by the secret token in their URL
    webhook_auth = "token"
    webhook_events = ("message.status", "message.received", "ussd.session", "voice.call")

    # --- requests -------------------------------------------------------------------------

    @staticmethod
    def _headers(ctx: ActionContext) -> dict[str, str]:
        credentials: AfricasTalkingCredentials = ctx.credentials
        return {"apiKey": credentials.api_key.get_secret_value(), "Accept": "application/json"}

    @staticmethod
    def _username(ctx: ActionContext) -> str:
        config: AfricasTalkingConfig = ctx.config
        if not config.username:
            raise AuthFailed(
                "the integration has no Africa's Talking username: set it (`sandbox` for AT's sandbox)"
            )
        return config.username

    @staticmethod
    def voice_url(config: AfricasTalkingConfig, path: str) -> str:
        """The voice API address of ``path``: ``voice_base_url``, else the voice host that goes
        with ``base_url`` (AT's live or sandbox one), else ``base_url`` itself (a local sandbox
        serving both)."""
        if config.voice_base_url:
            base = config.voice_base_url
        elif not config.base_url or config.base_url.rstrip("/") == LIVE_API_URL:
            base = LIVE_VOICE_URL
        elif config.base_url.rstrip("/") == AT_SANDBOX_API_URL:
            base = AT_SANDBOX_VOICE_URL
        else:
            base = config.base_url
        return f"{base.rstrip('/')}{path}"

    @staticmethod
    def _refused(response: httpx.Response, what: str) -> NoReturn:
        """Raise the typed error of a non-success answer (AT's bodies are not shown: they may echo input)."""
        status = response.status_code
        if status == 401:
            raise AuthFailed("Africa's Talking refused the API key or username", provider_code="401")
        if status >= 500:
            raise Unavailable(
                f"Africa's Talking could not {what} (it answered {status})", provider_code=str(status)
            )
        if 400 <= status < 500:
            raise Rejected(
                f"Africa's Talking refused to {what} (it answered {status})", provider_code=str(status)
            )
        raise InvalidResponse(f"Africa's Talking answered {status} when asked to {what}")

    # --- credentials ----------------------------------------------------------------------

    async def check(self, ctx: ActionContext) -> None:
        """Fetch the application's data (its balance): the cheapest authenticated call AT has."""
        await self._user_data(ctx)

    async def _user_data(self, ctx: ActionContext) -> Any:
        response = await ctx.http.request(
            "GET", USER_PATH, params={"username": self._username(ctx)}, headers=self._headers(ctx)
        )
        if response.status_code != 200:
            self._refused(response, "read the application's data")
        body = json_body(response)
        data = body.get("UserData") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("balance"), str):
            raise InvalidResponse("Africa's Talking answered the application's data without UserData.balance")
        return data

    # --- actions --------------------------------------------------------------------------

    @action("send_sms", effect="write", title="Send SMS")
    async def send_sms(self, ctx: ActionContext, data: SendSmsIn) -> SendSmsOut:
        """Send an SMS to one or more phone numbers (E.164) from the integration's sender id or
        short code. Returns, per recipient, whether Africa's Talking accepted it (status code
        100/101/102), its message id (the delivery report's id) and the cost. Some recipients
        may fail while others are sent; when none is accepted the send is refused with AT's
        status code (403 invalid number, 405 insufficient balance, 406 blacklisted…).
        Africa's Talking's SMS API has no idempotency key or client reference, so the request is
        sent once and never retried here; the workflow engine's journal keeps a step from
        sending twice."""
        config: AfricasTalkingConfig = ctx.config
        form = {"username": self._username(ctx), "to": ",".join(data.to), "message": data.message}
        sender = data.sender_id or config.sender_id
        if sender:
            form["from"] = sender
        if data.enqueue:
            form["enqueue"] = "1"
        form["bulkSMSMode"] = "1"  # as AT's SDKs send it: bulk SMS, the sender pays
        response = await ctx.http.request("POST", SMS_PATH, data=form, headers=self._headers(ctx))
        if response.status_code not in (200, 201):
            self._refused(response, "send the SMS")
        result = read_send_answer(json_body(response), ctx.http.redact)
        logger.debug("AT accepted %d of %d recipients", result.accepted, len(result.recipients))
        return result

    @action("make_call", effect="write", title="Make a voice call")
    async def make_call(self, ctx: ActionContext, data: MakeCallIn) -> MakeCallOut:
        """Call one or more phone numbers (E.164) from the integration's Africa's Talking voice
        number. Returns the call session id of each number AT queued; what the caller hears is
        the answer to AT's voice callback. AT's call API has no idempotency key, so the
        request is sent once; the workflow engine's journal keeps a step from calling twice."""
        config: AfricasTalkingConfig = ctx.config
        caller = data.from_number or config.voice_number
        if not caller:
            raise Rejected("set the integration's voice number (or from_number) to make calls")
        form = {"username": self._username(ctx), "from": caller, "to": ",".join(data.to)}
        response = await ctx.http.request(
            "POST", self.voice_url(config, CALL_PATH), data=form, headers=self._headers(ctx)
        )
        if response.status_code not in (200, 201):
            self._refused(response, "make the call")
        body = json_body(response)
        entries = body.get("entries") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise InvalidResponse("Africa's Talking answered a call without entries")
        calls = [self._entry(item) for item in entries]
        accepted = sum(1 for c in calls if c.accepted)
        if accepted == 0:
            reason = str(body.get("errorMessage") or "")
            code = calls[0].status if calls else (reason if reason and reason != "None" else None)
            shown = ctx.http.redact(code or "no number was queued")[:120]
            raise Rejected(f"Africa's Talking made no call: {shown}", provider_code=code)
        return MakeCallOut(accepted=accepted, entries=calls)

    @staticmethod
    def _entry(item: Any) -> CallEntry:
        if not isinstance(item, dict) or "phoneNumber" not in item or "status" not in item:
            raise InvalidResponse("Africa's Talking answered a call entry without phoneNumber or status")
        session = item.get("sessionId")
        status = str(item["status"])
        return CallEntry(
            phone=str(item["phoneNumber"]),
            accepted=status == "Queued",
            status=status,
            session_id=str(session) if session not in (None, "", "None") else None,
        )

    @action("get_balance", effect="read", title="Get balance")
    async def get_balance(self, ctx: ActionContext, data: BalanceIn) -> BalanceOut:
        """Read the Africa's Talking application's balance (what SMS and calls are paid from)."""
        text = str((await self._user_data(ctx))["balance"])
        return BalanceOut(balance=parse_cost(text), balance_text=text)

    @polling("inbound_sms", interval_seconds=60.0)
    async def poll_inbox(self, ctx: ActionContext, cursor: str | None) -> PollResult:
        """Fetch the SMS received after the cursor from AT's inbox (``lastReceivedId``): the same
        ``message.received`` events (and event ids) the inbound callbacks carry, so messages whose
        callback was lost are found, and those that arrived both ways are deduplicated."""
        params = {"username": self._username(ctx), "lastReceivedId": cursor or "0"}
        response = await ctx.http.request("GET", SMS_PATH, params=params, headers=self._headers(ctx))
        if response.status_code != 200:
            self._refused(response, "read the inbox")
        body = json_body(response)
        data = body.get("SMSMessageData") if isinstance(body, dict) else None
        messages = data.get("Messages") if isinstance(data, dict) else None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise InvalidResponse("Africa's Talking answered the inbox without SMSMessageData.Messages")
        events, last = [], cursor
        for message in messages:
            form = {key: str(value) for key, value in message.items() if value is not None}
            events.append(parse_callback(form))
            last = form.get("id", last)
        return PollResult(events=events, cursor=last)

    # --- webhooks -------------------------------------------------------------------------

    def verify_webhook(self, integration: Integration, request: InboundRequest) -> None:
        """AT signs nothing (the ingress has checked the URL's token); beyond that, refuse a voice
        callback that names neither side as the integration's voice number, and a USSD request
        for a service code the integration does not list (when it lists any)."""
        config = cast(AfricasTalkingConfig, integration.config)
        try:
            form = request.form()
            kind = classify(form)
        except InvalidResponse:
            return  # malformed: parse_webhook says so
        ours = config.voice_number
        if kind == "voice" and ours and ours not in (form.get("callerNumber"), form.get("destinationNumber")):
            raise AuthFailed("the voice callback is not for this integration's voice number")
        codes = config.ussd_service_codes
        if kind.startswith("ussd") and codes and form.get("serviceCode") not in codes:
            raise AuthFailed("the USSD request is for a service code this integration does not have")

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        """The event of one form-encoded AT callback: an SMS delivery report (``message.status``),
        an inbound SMS (``message.received``), a USSD request (``ussd.session``) or a voice
        callback (``voice.call``). :class:`InvalidResponse` when the form is malformed."""
        config = cast(AfricasTalkingConfig, integration.config)
        return [parse_callback(request.form(), config.voice_number)]

    def webhook_reply(
        self, integration: Integration, request: InboundRequest, events: list[WebhookEvent]
    ) -> WebhookReply:
        """The default answer AT gets: for a USSD request ``END`` + ``ussd_default_reply`` (a
        conversation answers with :func:`ussd_reply` instead), for a live voice callback XML
        saying ``voice_default_say``, for everything else 200 ``text/plain``."""
        config = cast(AfricasTalkingConfig, integration.config)
        for event in events:
            if event.kind == "ussd.session" and not event.data.get("final"):
                return ussd_reply(config.ussd_default_reply, end=True)
            if event.kind == "voice.call":
                if event.data.get("active"):
                    return VoiceResponse().say(config.voice_default_say).reply()
                return VoiceResponse().reply()
        return _PLAIN_OK


__all__ = ["AfricasTalking"]
