"""The Africa's Talking sandbox's own controls (``/sandbox/…``; AT has none): callback URLs, an
inbound SMS, a USSD session step by step, a voice call step by step (see the sandbox's
``scenarios``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors.africastalking._sandbox_sessions import (
    FORM,
    SIMULATOR_NETWORK,
    Exchange,
    UssdSession,
    VoiceCall,
    final_voice_form,
    new_ussd_id,
    new_voice_id,
    post_form,
    read_ussd_reply,
    ussd_form,
    voice_form,
)

if TYPE_CHECKING:
    from smeflow.connectors.sandbox._base import CallbackSender

CALLBACK_KINDS = ("delivery_report", "inbound_sms", "ussd", "voice")


class SandboxControls:
    """Mixed into :class:`AfricasTalkingSandbox` (which holds the state these routes steer)."""

    urls: dict[str, str | None]
    voice_number: str
    delay_seconds: float
    #: inbound messages, as AT's inbox keeps them (``GET /version1/messaging``)
    inbox: list[dict[str, Any]]
    ussd_sessions: dict[str, UssdSession]
    voice_calls: dict[str, VoiceCall]
    exchanges: list[Exchange]
    callbacks: CallbackSender
    _tasks: set[asyncio.Task[None]]

    if TYPE_CHECKING:

        def scripted(self, name: str) -> Any: ...

    def control_routes(self) -> list[BaseRoute]:
        return [
            Route("/sandbox/callbacks", self._set_callbacks, methods=["POST"]),
            Route("/sandbox/sms/inbound", self._inbound_sms, methods=["POST"]),
            Route("/sandbox/ussd/sessions", self._ussd_start, methods=["POST"]),
            Route("/sandbox/ussd/sessions/{session_id}", self._ussd_input, methods=["POST"]),
            Route("/sandbox/voice/calls", self._voice_start, methods=["POST"]),
            Route("/sandbox/voice/calls/{session_id}", self._voice_step, methods=["POST"]),
        ]

    def post_later(self, url: str, form: dict[str, str], plan: Any, *, extra_delay: float = 0.0) -> None:
        """An asynchronous, form-encoded callback; ``plan`` "drop", "twice" or "delay" steers it."""
        times = 0 if plan == "drop" else 2 if plan == "twice" else 1
        delay = (self.delay_seconds if plan == "delay" else 0.0) + extra_delay
        body = urlencode(form).encode()
        self.callbacks.send(url, body, {"Content-Type": FORM}, delay=delay, times=times)

    def answer_call_later(self, call: VoiceCall, plan: Any) -> None:
        """Post a queued outbound call's answered callback (steered like :meth:`post_later`),
        keeping the app's XML like the voice controls do."""
        url = self.urls["voice"]
        if url is None or plan == "drop":
            return

        async def answer() -> None:
            if plan == "delay":
                await asyncio.sleep(self.delay_seconds)
            for _ in range(2 if plan == "twice" else 1):
                await self._voice_exchange(call, url, voice_form(call))

        task = asyncio.get_running_loop().create_task(answer())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            return {}
        return body if isinstance(body, dict) else {}

    async def _set_callbacks(self, request: Request) -> Response:
        body = await self._json(request)
        for kind in CALLBACK_KINDS:
            if kind in body:
                self.urls[kind] = body[kind] or None
        return JSONResponse(self.urls)

    async def _inbound_sms(self, request: Request) -> Response:
        body = await self._json(request)
        if not body.get("from") or "text" not in body:
            return JSONResponse({"error": "give from and text"}, 400)
        message_id = len(self.inbox) + 1
        message = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "from": str(body["from"]),
            "id": message_id,
            "linkId": "",
            "text": str(body["text"]),
            "to": str(body.get("to") or "22384"),
        }
        self.inbox.append(message)
        url = self.urls["inbound_sms"]
        plan = self.scripted("callback")
        if url is not None:
            form = {k: str(v) for k, v in message.items() if k != "linkId"} | {
                "networkCode": SIMULATOR_NETWORK
            }
            self.post_later(url, form, plan)
        return JSONResponse({"id": str(message_id)})

    async def _ussd_start(self, request: Request) -> Response:
        body = await self._json(request)
        if not body.get("phone") or self.urls["ussd"] is None:
            return JSONResponse({"error": "set the ussd callback and give the phone"}, 400)
        session = UssdSession(new_ussd_id(), str(body["phone"]), str(body.get("service_code") or "*384*123#"))
        self.ussd_sessions[session.session_id] = session
        return await self._ussd_step(session)

    async def _ussd_input(self, request: Request) -> Response:
        session = self.ussd_sessions.get(request.path_params["session_id"])
        if session is None:
            return JSONResponse({"error": "no such session"}, 404)
        if session.ended:
            return JSONResponse({"error": "the session has ended"}, 409)
        session.inputs.append(str((await self._json(request)).get("input", "")))
        return await self._ussd_step(session)

    async def _ussd_step(self, session: UssdSession) -> Response:
        url = self.urls["ussd"]
        if url is None:
            return JSONResponse({"error": "set the ussd callback first"}, 400)
        times = 2 if self.scripted("ussd") == "twice" else 1
        for _ in range(times):
            exchange = await post_form("ussd", url, ussd_form(session))
            self.exchanges.append(exchange)
        message = read_ussd_reply(session, exchange)
        return JSONResponse(
            {
                "session_id": session.session_id,
                "text": session.text,
                "status": exchange.status,
                "content_type": exchange.content_type,
                "reply": exchange.reply,
                "message": message,
                "ended": session.ended,
                "error": session.error,
            }
        )

    async def _voice_start(self, request: Request) -> Response:
        body = await self._json(request)
        if not body.get("phone") or self.urls["voice"] is None:
            return JSONResponse({"error": "set the voice callback and give the phone"}, 400)
        direction = "Outbound" if str(body.get("direction", "")).lower() == "outbound" else "Inbound"
        call = VoiceCall(new_voice_id(), str(body["phone"]), direction, self.voice_number)
        self.voice_calls[call.session_id] = call
        return await self._voice_post(call, voice_form(call))

    async def _voice_step(self, request: Request) -> Response:
        call = self.voice_calls.get(request.path_params["session_id"])
        if call is None:
            return JSONResponse({"error": "no such call"}, 404)
        if not call.active:
            return JSONResponse({"error": "the call has ended"}, 409)
        body = await self._json(request)
        if body.get("hangup"):
            return await self._voice_post(call, final_voice_form(call))
        if body.get("recording"):
            url = f"https://sandbox.invalid/recordings/{call.session_id}.mp3"
            return await self._voice_post(call, voice_form(call, recordingUrl=url))
        return await self._voice_post(call, voice_form(call, dtmfDigits=str(body.get("digits", ""))))

    async def _voice_exchange(self, call: VoiceCall, url: str, form: dict[str, str]) -> Exchange:
        exchange = await post_form("voice", url, form)
        self.exchanges.append(exchange)
        call.replies.append(exchange.reply)
        return exchange

    async def _voice_post(self, call: VoiceCall, form: dict[str, str]) -> Response:
        url = self.urls["voice"]
        if url is None:
            return JSONResponse({"error": "set the voice callback first"}, 400)
        exchange = await self._voice_exchange(call, url, form)
        return JSONResponse(
            {
                "session_id": call.session_id,
                "status": exchange.status,
                "content_type": exchange.content_type,
                "reply": exchange.reply,
            }
        )


__all__ = ["CALLBACK_KINDS", "SandboxControls"]
