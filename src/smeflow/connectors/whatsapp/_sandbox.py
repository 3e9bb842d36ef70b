"""The WhatsApp Cloud API sandbox: the Graph API's send and phone-number endpoints, the 24-hour
window per recipient, and signed webhook notifications (inbound messages, statuses)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, ClassVar, Literal

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors.sandbox._base import Sandbox
from smeflow.connectors.whatsapp import _graph
from smeflow.connectors.whatsapp._webhook import SIGNATURE_HEADER, sign
from smeflow.connectors.whatsapp._window import WINDOW

logger = logging.getLogger(__name__)

#: recipients whose number ends in these digits get a scripted answer
MAGIC_SUFFIXES = {
    "131026": (400, 131026, "(#131026) Message Undeliverable."),
    "130429": (400, 130429, "(#130429) Rate limit hit"),
    "131056": (400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
    "500000": (500, 131000, "(#131000) Something went wrong"),
}
ASYNC_UNDELIVERABLE = "999026"


class WhatsAppSandbox(Sandbox):
    """See ``scenarios``."""

    key: ClassVar[str] = "whatsapp"
    title: ClassVar[str] = "WhatsApp Business Cloud API (Graph)"
    scenarios: ClassVar[str] = """\
Graph API: GET /{version}/{phone_number_id} and POST /{version}/{phone_number_id}/messages
(Authorization: Bearer <access_token>; a wrong token is 401 with Graph error code 190).
Payloads are checked as the Cloud API does (text body <= 4096; 1-3 reply buttons, titles <= 20,
ids <= 256; lists 1-10 rows; templates need name and language); refusals use Graph's error shape.

24-hour window, per recipient: free-form messages (text, interactive, media) to a number that has
not written in the last 24 h get error 131047 (window_errors="sync", the default: 400 at once;
"async": accepted, then a failed status with 131047, as the real Cloud API mostly does).
Templates are always allowed (templates=None accepts any name; a set limits them: else 132001).
Set `last_inbound[wa_id] = unix time` to age a window.

Webhook: notifications are POSTed to `webhook_url` with `X-Hub-Signature-256` = sha256 HMAC of
the raw body with `app_secret`. Configure it with WhatsAppSandbox(webhook_url=...), by setting
the attribute, or with POST /_sandbox/webhook {"url": ...}, which first runs Meta's GET
handshake (hub.mode=subscribe, hub.verify_token=<verify_token>, hub.challenge) against the URL
and answers {"verified": bool}; `verify_webhook_url()` does the same from Python.

Inbound: simulate_inbound("+254712345678", "hello", name=..., kind="text"|"button_reply"|
"list_reply"|"location"|"image"|"document", reply_id=..., context=<wamid>, extra={...}) (or
POST /_sandbox/inbound with the same fields and "from") opens that number's window and sends a
signed message notification; it returns the wamid.

Statuses: each accepted message gets sent -> delivered -> read notifications, `status_delay`
seconds apart; script("statuses", ("sent", "delivered")) picks the next message's statuses.

Callbacks: script("callback", "drop") drops the next notification, "twice" sends it twice,
a number delays it by that many seconds.

Magic recipients (the number's last 6 digits): 131026 -> 400 error 131026 (undeliverable);
130429 -> 400 error 130429 (throughput limit); 131056 -> 400 error 131056 (pair rate limit);
500000 -> 500 error 131000; 999026 -> accepted, then a failed status with 131026.
"""

    def __init__(
        self,
        *,
        access_token: str = "sandbox-access-token",  # noqa: S107 (the sandbox's own test values)
        app_secret: str = "sandbox-app-secret",  # noqa: S107
        verify_token: str = "sandbox-verify-token",  # noqa: S107
        phone_number_id: str = "106540352242922",
        display_phone_number: str = "15550783881",
        waba_id: str = "102290129340398",
        webhook_url: str | None = None,
        window_errors: Literal["sync", "async"] = "sync",
        templates: set[str] | None = None,
        status_delay: float = 0.05,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.waba_id = waba_id
        self.webhook_url = webhook_url
        self.window_errors = window_errors
        self.templates = templates
        self.status_delay = status_delay
        #: wa_id -> unix time of the customer's last inbound message
        self.last_inbound: dict[str, float] = {}
        #: every accepted send: {"id", "to", "type", "payload"}
        self.messages: list[dict[str, Any]] = []
        #: every notification built (sent, dropped or not), as JSON
        self.notifications: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.get_ident()
            yield
            await self.callbacks.aclose()

        return Starlette(routes=self.routes(), lifespan=lifespan)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_sandbox/inbound", self._inbound_route, methods=["POST"]),
            Route("/_sandbox/webhook", self._webhook_route, methods=["POST"]),
            Route("/{version}/{object_id}", self._object_route, methods=["GET"]),
            Route("/{version}/{object_id}/messages", self._messages_route, methods=["POST"]),
        ]

    # --- Graph API --------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return secrets.compare_digest(given.encode(), f"Bearer {self.access_token}".encode())

    async def _object_route(self, request: Request) -> Response:
        object_id = request.path_params["object_id"]
        self.record("GET", request.url.path, None)
        if not self._authorised(request):
            return _graph.bad_token()
        if object_id != self.phone_number_id:
            return _graph.no_object(object_id, "get")
        return JSONResponse(
            {
                "id": self.phone_number_id,
                "display_phone_number": self.display_phone_number,
                "verified_name": "SMEFlow Sandbox",
                "quality_rating": "GREEN",
            }
        )

    async def _messages_route(self, request: Request) -> Response:
        object_id = request.path_params["object_id"]
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            payload = None
        self.record("POST", request.url.path, payload)
        if not self._authorised(request):
            return _graph.bad_token()
        if object_id != self.phone_number_id:
            return _graph.no_object(object_id, "post")
        if isinstance(payload, dict) and payload.get("status") == "read" and payload.get("message_id"):
            return JSONResponse({"success": True})
        problem = _graph.check_message(payload, self.templates)
        if problem is not None:
            return problem
        return self._accept(payload)

    def _accept(self, payload: dict[str, Any]) -> Response:
        to = str(payload["to"])
        wa_id = to.lstrip("+")
        kind = payload.get("type", "text")
        for suffix, (status, code, message) in MAGIC_SUFFIXES.items():
            if wa_id.endswith(suffix):
                return _graph.graph_error(status, code, message)
        closed = kind != _graph.TEMPLATE and not self.window_open(wa_id)
        if closed and self.window_errors == "sync":
            return _graph.graph_error(
                400, 131047, "(#131047) Re-engagement message", details=_graph.REENGAGEMENT
            )
        message_id = _graph.wamid()
        self.messages.append({"id": message_id, "to": wa_id, "type": kind, "payload": payload})
        callback_data = payload.get("biz_opaque_callback_data")
        if closed:
            error = (131047, "Re-engagement message", _graph.REENGAGEMENT)
            self._statuses(message_id, wa_id, ("failed",), callback_data, error)
        elif wa_id.endswith(ASYNC_UNDELIVERABLE):
            error = (131026, "Message undeliverable", "Message Undeliverable.")
            self._statuses(message_id, wa_id, ("sent", "failed"), callback_data, error)
        else:
            chosen = self.scripted("statuses") or ("sent", "delivered", "read")
            self._statuses(message_id, wa_id, tuple(chosen), callback_data, None)
        sent: dict[str, Any] = {"id": message_id}
        if kind == _graph.TEMPLATE:
            sent["message_status"] = "accepted"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [sent],
            }
        )

    def window_open(self, wa_id: str) -> bool:
        """Whether free-form messages to ``wa_id`` are allowed now."""
        last = self.last_inbound.get(wa_id.lstrip("+"))
        return last is not None and time.time() - last < WINDOW.total_seconds()

    def _statuses(
        self,
        message_id: str,
        wa_id: str,
        statuses: tuple[str, ...],
        callback_data: Any,
        error: tuple[int, str, str] | None,
    ) -> None:
        for step, status in enumerate(statuses, start=1):
            value = _graph.status_value(
                message_id,
                status,
                wa_id,
                callback_data=str(callback_data) if callback_data else None,
                error=error if status == "failed" else None,
            )
            self._notify(value, delay=step * self.status_delay)

    # --- notifications ----------------------------------------------------------------------

    def _metadata(self) -> dict[str, str]:
        return {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}

    def _notify(self, value: dict[str, Any], *, delay: float = 0.0) -> None:
        """Sign and POST one notification (in the sandbox's loop), as scripted by ``callback``."""
        envelope = _graph.notification(self.waba_id, self._metadata(), value)
        self.notifications.append(envelope)
        body = orjson.dumps(envelope)
        times = 1
        scenario = self.scripted("callback")
        if scenario == "drop":
            times = 0
        elif scenario == "twice":
            times = 2
        elif isinstance(scenario, int | float):
            delay += float(scenario)
        if self.webhook_url is None:
            logger.info("whatsapp sandbox: no webhook_url, a notification was not sent")
            return
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.app_secret, body)}
        self.callbacks.send(self.webhook_url, body, headers, delay=delay, times=times)

    async def inbound(
        self,
        from_: str,
        text: str | None = None,
        *,
        name: str | None = "Sandbox Customer",
        kind: str = "text",
        reply_id: str | None = None,
        context: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A customer's message (in the sandbox's loop): open the window, notify, return the wamid."""
        wa_id = from_.lstrip("+")
        message = _graph.inbound_message(
            wa_id,
            kind,
            text=text,
            reply_id=reply_id,
            context=context,
            extra=extra,
            business=self.display_phone_number,
        )
        self.last_inbound[wa_id] = time.time()
        value: dict[str, Any] = {"messages": [message]}
        if name:
            value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
        self._notify(value)
        return str(message["id"])

    def simulate_inbound(self, from_: str, text: str | None = None, **kwargs: Any) -> str:
        """:meth:`inbound` from any thread (the sandbox must be serving)."""
        return str(self._run(self.inbound(from_, text, **kwargs)))

    async def check_webhook(self, url: str | None = None) -> bool:
        """Meta's GET handshake against ``url`` (default ``webhook_url``): True if it answered 200
        with the challenge."""
        target = url or self.webhook_url
        if not target:
            return False
        challenge = str(secrets.randbelow(10**10))
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": self.verify_token}
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.get(target, params=params)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.text == challenge

    def verify_webhook_url(self, url: str | None = None) -> bool:
        """:meth:`check_webhook` from any thread."""
        return bool(self._run(self.check_webhook(url)))

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the WhatsApp sandbox is not serving")
        if threading.get_ident() == self._thread:
            coro.close()
            raise RuntimeError("in the sandbox's loop, await the coroutine instead")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _inbound_route(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            fields = {k: body[k] for k in ("name", "kind", "reply_id", "context", "extra") if k in body}
            message_id = await self.inbound(str(body["from"]), body.get("text"), **fields)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"send {{from, text?, name?, kind?, ...}}: {exc}"}, status_code=400)
        return JSONResponse({"id": message_id})

    async def _webhook_route(self, request: Request) -> Response:
        try:
            url = str(orjson.loads(await request.body())["url"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return JSONResponse({"error": 'send {"url": "<your webhook URL>"}'}, status_code=400)
        verified = await self.check_webhook(url)
        if verified:
            self.webhook_url = url
        return JSONResponse({"verified": verified}, status_code=200 if verified else 400)


__all__ = ["WhatsAppSandbox"]
