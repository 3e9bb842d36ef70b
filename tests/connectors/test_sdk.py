"""The connector SDK: declarations, validation, calls, the HTTP client's retries and redaction."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pydantic import BaseModel, SecretStr

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    Connector,
    ConnectorInvalid,
    ConnectorRegistry,
    HttpFactory,
    Integration,
    RateLimited,
    Rejected,
    Retry,
    Unavailable,
    action,
    problems_of,
)


class EchoCredentials(BaseModel):
    api_key: SecretStr


class EchoIn(BaseModel):
    text: str


class EchoOut(BaseModel):
    echoed: str
    key_used: str | None = None


class Echo(Connector):
    key = "echo"
    version = "1.0.0"
    title = "Echo"
    description = "Says back what it is given (a test connector)."
    default_base_url = "https://echo.invalid"
    credentials_model = EchoCredentials

    async def check(self, ctx: ActionContext) -> None:
        response = await ctx.http.request(
            "GET", "/me", headers={"Authorization": ctx.credentials.api_key.get_secret_value()}
        )
        if response.status_code == 401:
            raise AuthFailed("the API key was refused")

    @action("say", effect="write")
    async def say(self, ctx: ActionContext, data: EchoIn) -> EchoOut:
        """Send a text to the echo service and return what it said back."""
        response = await ctx.http.request("POST", "/say", json={"text": data.text}, idempotent=True)
        return EchoOut(echoed=response.json()["text"], key_used=ctx.idempotency_key)


def integration(secret: str = "sk_live_0123456789") -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="echo",
        config=Echo.config_model(),
        credentials=EchoCredentials(api_key=SecretStr(secret)),
    )


def factory_for(handler: httpx.MockTransport) -> HttpFactory:
    return HttpFactory(httpx.AsyncClient(transport=handler), retry=Retry(attempts=3, base_seconds=0.001))


def test_actions_are_declared_with_their_models_and_full_names() -> None:
    (say,) = Echo.actions()
    assert (say.name, say.effect, say.input_model, say.output_model) == ("echo.say", "write", EchoIn, EchoOut)
    assert say.description.startswith("Send a text")
    assert problems_of(Echo()) == []


def test_the_registry_refuses_bad_declarations_naming_each_problem() -> None:
    class Bad(Connector):
        key = "Bad Key"
        version = "1"
        title = "Bad"
        description = "bad"
        default_base_url = "https://bad.invalid"

        class Creds(BaseModel):
            secret: str

        credentials_model = Creds
        webhook_events = ("payment.exploded",)

    with pytest.raises(ConnectorInvalid) as caught:
        ConnectorRegistry([Bad()])
    message = caught.value.message
    for expected in ("must be lower-case", "MAJOR.MINOR.PATCH", "declare it SecretStr", "payment.exploded"):
        assert expected in message
    registry = ConnectorRegistry([Echo()])
    with pytest.raises(ConnectorInvalid, match="taken"):
        registry.register(Echo())


async def test_a_call_checks_its_input_and_sends_to_the_integration_base_url() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"text": "habari"})

    factory = factory_for(httpx.MockTransport(handle))
    echo = Echo()
    ctx = ActionContext(
        integration(), factory.for_integration(echo, integration()), idempotency_key="run:node"
    )
    out = await echo.call("echo.say", ctx, {"text": "habari"})
    assert out == EchoOut(echoed="habari", key_used="run:node")
    assert seen == ["https://echo.invalid/say"]
    with pytest.raises(Rejected, match="text"):
        await echo.call("say", ctx, {"words": 1})


async def test_safe_calls_are_retried_and_unsafe_ones_are_not() -> None:
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(503)

    factory = factory_for(httpx.MockTransport(handle))
    http = factory.for_integration(Echo(), integration())
    assert (await http.request("GET", "/x")).status_code == 503
    assert calls == ["GET"] * 3
    calls.clear()
    assert (await http.request("POST", "/x")).status_code == 503
    assert calls == ["POST"]


async def test_network_failures_and_429_become_typed_errors() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http = factory_for(httpx.MockTransport(down)).for_integration(Echo(), integration())
    with pytest.raises(Unavailable) as caught:
        await http.request("POST", "/x")
    assert caught.value.retryable

    def limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0"})

    http = factory_for(httpx.MockTransport(limited)).for_integration(Echo(), integration())
    with pytest.raises(RateLimited):
        await http.request("GET", "/x")


async def test_secrets_are_redacted_from_what_the_client_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk_live_SECRETVALUE42"

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    http = factory_for(httpx.MockTransport(handle)).for_integration(Echo(), integration(secret))
    caplog.set_level("DEBUG")
    echo = Echo()
    with pytest.raises(AuthFailed):
        await echo.check(ActionContext(integration(secret), http))
    await http.request("GET", f"/lookup?key={secret}")
    assert caplog.records
    assert secret not in caplog.text
    assert http.redact(f"token={secret}") == "token=***"
    assert secret not in repr(integration(secret).credentials)
