"""The generic HTTP connector against a local echo server over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    ConnectorError,
    HttpFactory,
    InboundRequest,
    Integration,
    Rejected,
    Retry,
    Unavailable,
)
from smeflow.connectors.httpcall import Http, HttpConfig, HttpCredentials, HttpEchoSandbox
from smeflow.connectors.sandbox import serving
from smeflow.connectors.testing import ConnectorConformance

TOKEN = "erp-bearer-7f3a9c1e5d"
PASSWORD = "basic-pass-2b8e4f6a"
API_KEY = "key-91c0d7e3b5a4"


@pytest.fixture
def echo() -> HttpEchoSandbox:
    return HttpEchoSandbox(bearer_token=TOKEN, basic=("erp-user", PASSWORD), api_key=API_KEY)


@pytest.fixture
def echo_url(echo: HttpEchoSandbox) -> Iterator[str]:
    with serving(echo) as url:
        yield url


def http_integration(base_url: str, **credentials: str) -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="api",
        config=HttpConfig(
            base_url=f"{base_url}/api", default_headers={"X-Tenant": "amani"}, health_path="/health"
        ),
        credentials=HttpCredentials.model_validate(credentials),
    )


@pytest.fixture
async def factory() -> object:
    made = HttpFactory(retry=Retry(attempts=3, base_seconds=0.001))
    yield made
    await made.aclose()


def ctx_for(factory: HttpFactory, integration: Integration, key: str | None = None) -> ActionContext:
    return ActionContext(integration, factory.for_integration(Http(), integration), idempotency_key=key)


class TestHttpConformance(ConnectorConformance):
    connector_class = Http

    @pytest.fixture
    def integration(self, echo_url: str) -> Integration:
        return http_integration(echo_url, bearer_token=TOKEN)

    @pytest.fixture
    def bad_integration(self, echo_url: str) -> Integration:
        return http_integration(echo_url, bearer_token="erp-bearer-wrong")

    @pytest.fixture
    def webhook_delivery(self) -> InboundRequest | None:
        return None


async def test_get_reads_with_the_credentials_and_default_headers(
    echo: HttpEchoSandbox, echo_url: str, factory: HttpFactory
) -> None:
    assert Http().action("get").effect == "read"
    out = await Http().call(
        "get",
        ctx_for(factory, http_integration(echo_url, bearer_token=TOKEN)),
        {"path": "/orders/17", "query": {"expand": "items", "page": 2}},
    )
    dumped = out.model_dump()
    assert (dumped["status"], dumped["content_type"]) == (200, "application/json")
    body = dumped["body"]
    assert body["method"] == "GET"
    assert body["path"] == "/api/orders/17"
    assert body["query"] == {"expand": "items", "page": "2"}
    assert body["headers"]["x-tenant"] == "amani"
    assert "idempotency-key" not in body["headers"]


@pytest.mark.parametrize(
    "credentials", [{"basic_username": "erp-user", "basic_password": PASSWORD}, {"api_key": API_KEY}]
)
async def test_basic_auth_and_api_key_header_work_too(
    echo_url: str, factory: HttpFactory, credentials: dict[str, str]
) -> None:
    await Http().check(ctx_for(factory, http_integration(echo_url, **credentials)))
    with pytest.raises(AuthFailed):
        await Http().check(ctx_for(factory, http_integration(echo_url, **dict.fromkeys(credentials, "nope"))))


async def test_a_write_carries_the_idempotency_key_and_a_repeat_is_recognised(
    echo: HttpEchoSandbox, echo_url: str, factory: HttpFactory
) -> None:
    connector = Http()
    assert connector.action("request").effect == "write"
    ctx = ctx_for(factory, http_integration(echo_url, bearer_token=TOKEN), key="run-3:create-invoice")
    data = {"method": "POST", "path": "/invoices", "body": {"amount_minor": 150000, "currency": "KES"}}
    first = (await connector.call("request", ctx, data)).model_dump()
    assert first["body"]["headers"]["idempotency-key"] == "run-3:create-invoice"
    assert first["body"]["body"] == {"amount_minor": 150000, "currency": "KES"}
    again = (await connector.call("request", ctx, data)).model_dump()
    assert again == first
    assert echo.replayed == 1


async def test_text_answers_are_returned_as_text(echo_url: str, factory: HttpFactory) -> None:
    out = await Http().call(
        "get", ctx_for(factory, http_integration(echo_url, bearer_token=TOKEN)), {"path": "/text"}
    )
    assert (out.model_dump()["body"], out.model_dump()["content_type"]) == ("plain words", "text/plain")


@pytest.mark.parametrize(
    ("status", "error"), [(404, Rejected), (422, Rejected), (401, AuthFailed), (403, AuthFailed)]
)
async def test_4xx_answers_are_typed_errors_with_the_status(
    echo_url: str, factory: HttpFactory, status: int, error: type[ConnectorError]
) -> None:
    with pytest.raises(error) as caught:
        await Http().call(
            "get",
            ctx_for(factory, http_integration(echo_url, bearer_token=TOKEN)),
            {"path": f"/status/{status}"},
        )
    assert caught.value.provider_code == str(status)


async def test_5xx_is_unavailable_after_retries_for_get_and_after_one_try_for_writes(
    echo: HttpEchoSandbox, echo_url: str, factory: HttpFactory
) -> None:
    integration = http_integration(echo_url, bearer_token=TOKEN)
    with pytest.raises(Unavailable) as caught:
        await Http().call("get", ctx_for(factory, integration), {"path": "/status/503"})
    assert caught.value.provider_code == "503"
    assert len(echo.calls) == 3
    echo.calls.clear()
    with pytest.raises(Unavailable):
        await Http().call(
            "request",
            ctx_for(factory, integration, key="k-1"),
            {"method": "PUT", "path": "/status/502", "body": {}},
        )
    assert len(echo.calls) == 1
    echo.calls.clear()
    echo.script("status", 503)  # one failure, then the retry succeeds
    out = await Http().call("get", ctx_for(factory, integration), {"path": "/orders"})
    assert out.model_dump()["status"] == 200
    assert len(echo.calls) == 2


@pytest.mark.parametrize(
    "data",
    [
        {"path": "https://elsewhere.example/steal"},
        {"path": "//elsewhere.example/steal"},
        {"path": "/x", "headers": {"Authorization": "Bearer smuggled"}},
    ],
)
async def test_calls_stay_under_the_base_url_and_take_no_credentials_from_input(
    echo: HttpEchoSandbox, echo_url: str, factory: HttpFactory, data: dict[str, object]
) -> None:
    with pytest.raises(Rejected):
        await Http().call("get", ctx_for(factory, http_integration(echo_url, bearer_token=TOKEN)), data)
    assert echo.calls == []


def test_the_config_requires_a_base_url_and_refuses_secret_default_headers() -> None:
    with pytest.raises(ValueError, match="base_url"):
        HttpConfig.model_validate({})
    with pytest.raises(ValueError, match="credentials"):
        HttpConfig(base_url="https://erp.example", default_headers={"Cookie": "session=1"})


async def test_no_credential_reaches_logs_outputs_or_errors(
    echo_url: str, factory: HttpFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    shown = []
    for credentials in ({"bearer_token": TOKEN}, {"basic_username": "erp-user", "basic_password": PASSWORD}):
        integration = http_integration(echo_url, **credentials)
        shown.append(repr(integration))
        out = await Http().call("get", ctx_for(factory, integration), {"path": "/status/200"})
        shown.append(out.model_dump_json())
        for path in ("/status/404", "/status/500"):
            with pytest.raises(ConnectorError) as caught:
                await Http().call("get", ctx_for(factory, integration), {"path": path})
            shown.append(f"{caught.value} {caught.value!r} {caught.value.extra}")
    bad = http_integration(echo_url, api_key="key-WRONG-00000")
    with pytest.raises(AuthFailed) as refused:
        await Http().check(ctx_for(factory, bad))
    shown.append(str(refused.value))
    assert caplog.records
    everything = caplog.text + " ".join(shown)
    for secret in (TOKEN, PASSWORD, API_KEY, "key-WRONG-00000"):
        assert secret not in everything
    assert "Bearer" not in caplog.text
