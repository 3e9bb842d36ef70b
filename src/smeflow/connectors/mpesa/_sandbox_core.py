"""The M-Pesa sandbox's machinery: its state, OAuth tokens, the Bearer check every API does,
Daraja's error bodies, and the scenario controls for callbacks (see ``MpesaSandbox.scenarios``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smeflow.connectors.mpesa import _sandbox_rules as rules
from smeflow.connectors.sandbox._base import Callback, Sandbox

JSON_HEADERS = {"Content-Type": "application/json"}
Handler = Callable[[Request, Any], Awaitable[Response]]


@dataclass(slots=True)
class StkPayment:
    """One STK Push as the sandbox holds it (``result_code`` None: the customer has not answered)."""

    checkout_request_id: str
    merchant_request_id: str
    shortcode: str
    amount: int
    phone: str
    account_reference: str
    callback_url: str
    planned_code: int
    result_code: int | None = None
    receipt: str | None = None


@dataclass(slots=True)
class B2cPayment:
    """One B2C payout (``result_code`` None: no result yet)."""

    originator_conversation_id: str
    conversation_id: str
    amount: int
    phone: str
    result_url: str
    timeout_url: str
    planned_code: int
    result_code: int | None = None
    receipt: str | None = None


@dataclass(slots=True)
class C2bRegistration:
    confirmation_url: str
    validation_url: str
    response_type: str
    version: str


@dataclass(slots=True)
class C2bPayment:
    """A simulated customer payment: ``status`` validating → confirmed / rejected / cancelled."""

    trans_id: str
    shortcode: str
    amount: int
    status: str = "validating"
    validation_reply: Any = None
    third_party: str = ""
    history: list[str] = field(default_factory=list)


class DarajaCore(Sandbox):
    """What every Daraja API of the sandbox shares (:class:`MpesaSandbox` adds the APIs)."""

    def __init__(
        self,
        *,
        consumer_key: str = rules.SANDBOX_CONSUMER_KEY,
        consumer_secret: str = rules.SANDBOX_CONSUMER_SECRET,
        passkeys: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.apps: dict[str, str] = {consumer_key: consumer_secret}
        self.passkeys: dict[str, str] = passkeys or {rules.SANDBOX_SHORTCODE: rules.SANDBOX_PASSKEY}
        self.initiator_name = rules.SANDBOX_INITIATOR
        self.initiator_password = rules.SANDBOX_INITIATOR_PASSWORD
        self.token_ttl = 3599
        self.expires_in_as_string = True
        self.callback_delay = 0.05
        self.timestamp_tolerance = 3600.0
        self.c2b_external_validation = True
        self.pending_as_result = False
        self.tokens: dict[str, tuple[str, float]] = {}
        #: every access token issued, valid or not (for tests that look for leaks)
        self.issued: list[str] = []
        self.stk: dict[str, StkPayment] = {}
        self.b2c: dict[str, B2cPayment] = {}
        self.c2b_urls: dict[str, C2bRegistration] = {}
        self.c2b: dict[str, C2bPayment] = {}
        self.balances: dict[str, int] = {}
        self._key: rsa.RSAPrivateKey | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    # --- the app --------------------------------------------------------------------------

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self._loop = asyncio.get_running_loop()
            yield
            for task in list(self._tasks):
                task.cancel()
            if self._client is not None:
                await self._client.aclose()
            await self.callbacks.aclose()

        return Starlette(routes=self.routes(), lifespan=lifespan)

    def _api(self, handler: Handler, token_code: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body: Any = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = None
            self.record(request.method, request.url.path, body)
            try:
                if request.method != "POST":
                    raise rules.DarajaError(405, "405.001", "Method Not Allowed")
                self._authorize(request, token_code)
                if not request.headers.get("content-type", "").startswith("application/json"):
                    # Daraja's known answer to a wrong Content-Type (protocols §1.1)
                    raise rules.invalid("BusinessShortCode")
                if not isinstance(body, dict):
                    raise rules.invalid("JSON")
                return await handler(request, body)
            except rules.DarajaError as error:
                return error_response(error)

        return endpoint

    # --- OAuth ----------------------------------------------------------------------------

    async def _oauth(self, request: Request) -> Response:
        self.record(request.method, request.url.path, None)
        if request.method != "GET":
            return error_response(rules.DarajaError(405, "405.001", "Method Not Allowed"))
        if request.query_params.get("grant_type") != "client_credentials":
            return error_response(rules.DarajaError(400, "400.008.02", "Invalid grant type passed"))
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return error_response(rules.DarajaError(400, "400.008.01", "Invalid authentication type passed"))
        try:
            key, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key, secret = "", ""
        expected = self.apps.get(key)
        if expected is None or not secrets.compare_digest(expected, secret):
            return error_response(rules.DarajaError(400, "400.008.01", "Invalid Authentication passed"))
        # each new token invalidates the app's previous one (Daraja FAQ)
        self.tokens = {t: held for t, held in self.tokens.items() if held[0] != key}
        token = secrets.token_urlsafe(21)
        self.tokens[token] = (key, time.monotonic() + self.token_ttl)
        self.issued.append(token)
        expires: Any = str(self.token_ttl) if self.expires_in_as_string else self.token_ttl
        return JSONResponse({"access_token": token, "expires_in": expires})

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far (as if they had expired)."""
        self.tokens.clear()

    def _authorize(self, request: Request, token_code: str) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise rules.DarajaError(404, "404.001.04", "Invalid Authentication Header")
        held = self.tokens.get(token)
        if held is None or held[1] < time.monotonic() or self.scripted("access_token") == "invalid":
            raise rules.DarajaError(
                404 if token_code.startswith("404") else 400, token_code, "Invalid Access Token"
            )

    # --- scenario controls ----------------------------------------------------------------

    def _control(self, name: str) -> tuple[int, float, str]:
        """(times, delay, mode) for the next callback named ``name`` (see ``scenarios``)."""
        answer = self.scripted(name)
        if answer == "drop":
            return 0, self.callback_delay, "normal"
        if answer == "twice":
            return 2, self.callback_delay, "normal"
        if answer in ("hold", "timeout"):
            return 1, self.callback_delay, str(answer)
        if isinstance(answer, tuple | list) and len(answer) == 2 and answer[0] == "delay":
            return 1, float(answer[1]), "normal"
        return 1, self.callback_delay, "normal"

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, url: str, body: dict[str, Any], times: int) -> None:
        if times:
            self.callbacks.send(url, orjson.dumps(body), JSON_HEADERS, times=times)

    async def _post_for_reply(self, url: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST a validation request and read its answer (None: no usable answer in ~8 s)."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=8.0)
        content = orjson.dumps(body)
        record = Callback(url, content, dict(JSON_HEADERS))
        self.callbacks.sent.append(record)
        try:
            response = await self._client.post(url, content=content, headers=JSON_HEADERS)
        except httpx.HTTPError as exc:
            record.error = type(exc).__name__
            return None
        record.status = response.status_code
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return None
        return answer if response.status_code == 200 and isinstance(answer, dict) else None


def error_response(error: rules.DarajaError) -> Response:
    return JSONResponse(
        {"requestId": rules.request_id(), "errorCode": error.code, "errorMessage": error.message},
        status_code=error.status,
    )


__all__ = [
    "JSON_HEADERS",
    "B2cPayment",
    "C2bPayment",
    "C2bRegistration",
    "DarajaCore",
    "Handler",
    "StkPayment",
    "error_response",
]
