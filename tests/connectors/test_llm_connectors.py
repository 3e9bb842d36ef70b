"""The language-model connectors: OpenAI and OpenAI-compatible ``check`` over real HTTP against
the LLM sandbox (the conformance suite); Anthropic's and Gemini's ``check`` against their
documented request forms through ``httpx.MockTransport`` (no sandbox of theirs, no network)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    ConnectorConfig,
    HttpFactory,
    Integration,
    InvalidResponse,
    Rejected,
    Retry,
    Unavailable,
    default_registry,
)
from smeflow.connectors.llm import (
    Anthropic,
    Gemini,
    GeminiConfig,
    LlmCredentials,
    OpenAi,
    OpenAiCompatible,
    OpenAiCompatibleConfig,
    OpenAiConfig,
    OptionalKeyCredentials,
)
from smeflow.connectors.sandbox import serving
from smeflow.connectors.sandbox.llm import LlmSandbox
from smeflow.connectors.testing import ConnectorConformance

KEY = "sk-sandbox-connector-tests"


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with serving(LlmSandbox()) as url:
        yield url


def integration(connector: str, config: ConnectorConfig, credentials: BaseModel) -> Integration:
    return Integration(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), connector=connector, config=config, credentials=credentials
    )


class TestOpenAiConformance(ConnectorConformance):
    connector_class = OpenAi

    @pytest.fixture
    def integration(self, llm_url: str) -> Integration:
        config = OpenAiConfig(base_url=f"{llm_url}/v1", organization="org-sandbox", region="US")
        return integration("openai", config, LlmCredentials(api_key=SecretStr(KEY)))

    @pytest.fixture
    def bad_integration(self, llm_url: str) -> Integration:
        config = OpenAiConfig(base_url=f"{llm_url}/v1")
        return integration("openai", config, LlmCredentials(api_key=SecretStr("sk-proj-not-a-real-key")))

    @pytest.fixture
    def webhook_delivery(self) -> None:
        return None


class TestOpenAiCompatibleConformance(ConnectorConformance):
    connector_class = OpenAiCompatible

    @pytest.fixture
    def integration(self, llm_url: str) -> Integration:
        config = OpenAiCompatibleConfig(base_url=f"{llm_url}/v1", default_model="llama3.1:8b")
        return integration("openai_compatible", config, OptionalKeyCredentials(api_key=SecretStr(KEY)))

    @pytest.fixture
    def bad_integration(self, llm_url: str) -> Integration:
        config = OpenAiCompatibleConfig(base_url=f"{llm_url}/v1", default_model="llama3.1:8b")
        return integration(
            "openai_compatible", config, OptionalKeyCredentials(api_key=SecretStr("vllm-wrong"))
        )

    @pytest.fixture
    def webhook_delivery(self) -> None:
        return None


async def test_openai_check_sends_the_key_and_organization_to_the_models_list(llm_url: str) -> None:
    key = f"sk-sandbox-{uuid.uuid4().hex}"
    config = OpenAiConfig(base_url=f"{llm_url}/v1", organization="org-abc123")
    found = integration("openai", config, LlmCredentials(api_key=SecretStr(key)))
    factory = HttpFactory()
    try:
        await OpenAi().check(ActionContext(found, factory.for_integration(OpenAi(), found)))
    finally:
        await factory.aclose()
    async with httpx.AsyncClient() as client:
        seen = (
            await client.get(f"{llm_url}/_sandbox/llm/requests", headers={"Authorization": f"Bearer {key}"})
        ).json()
    assert seen["requests"] == [{"path": "/v1/models", "body": None}]


async def test_a_compatible_server_without_a_key_sends_no_authorization() -> None:
    sent: list[httpx.Request] = []

    def ollama(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(
            200, json={"object": "list", "data": [{"id": "llama3.1:8b", "object": "model"}]}
        )

    config = OpenAiCompatibleConfig(base_url="http://127.0.0.1:11434/v1", default_model="llama3.1:8b")
    await check(
        OpenAiCompatible(), integration("openai_compatible", config, OptionalKeyCredentials()), ollama
    )
    (request,) = sent
    assert str(request.url) == "http://127.0.0.1:11434/v1/models"
    assert "authorization" not in request.headers


def test_a_compatible_server_needs_its_base_url_and_model() -> None:
    with pytest.raises(ValidationError) as caught:
        OpenAiCompatibleConfig()  # type: ignore[call-arg]
    assert {e["loc"][0] for e in caught.value.errors()} == {"base_url", "default_model"}
    assert OpenAiConfig().default_model == "gpt-4o-mini"
    assert GeminiConfig().base_url is None


async def check(
    connector: Any, found: Integration, handler: Callable[[httpx.Request], httpx.Response]
) -> None:
    factory = HttpFactory(httpx.AsyncClient(transport=httpx.MockTransport(handler)), retry=Retry(attempts=1))
    try:
        await connector.check(ActionContext(found, factory.for_integration(connector, found)))
    finally:
        await factory.client.aclose()


ANTHROPIC_KEY = "sk-ant-api03-abcdefghijklmnop"
GEMINI_KEY = "AIzaSyA-abcdefghijklmnopqrstuvwxyz0123"


def anthropic(request: httpx.Request) -> httpx.Response:
    """Anthropic's documented ``GET /v1/models`` answers (and its 401 body)."""
    assert request.headers["anthropic-version"] == "2023-06-01"
    if request.headers.get("x-api-key") != ANTHROPIC_KEY:
        error = {"type": "authentication_error", "message": "invalid x-api-key"}
        return httpx.Response(401, json={"type": "error", "error": error})
    model = {"type": "model", "id": "claude-3-5-haiku-20241022", "display_name": "Claude Haiku 3.5"}
    return httpx.Response(200, json={"data": [model], "has_more": False, "first_id": None, "last_id": None})


def gemini(request: httpx.Request) -> httpx.Response:
    """Gemini's documented ``GET /v1beta/models?key=`` answers (a bad key is a 400 API_KEY_INVALID)."""
    if request.url.params.get("key") != GEMINI_KEY:
        error = {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
        return httpx.Response(400, json={"error": error})
    return httpx.Response(200, json={"models": [{"name": "models/gemini-2.0-flash"}]})


async def test_anthropic_check_uses_the_documented_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return anthropic(request)

    good = integration(
        "anthropic", Anthropic.config_model(), LlmCredentials(api_key=SecretStr(ANTHROPIC_KEY))
    )
    await check(Anthropic(), good, handler)
    assert str(seen[0].url) == "https://api.anthropic.com/v1/models"
    bad = integration(
        "anthropic", Anthropic.config_model(), LlmCredentials(api_key=SecretStr("sk-ant-wrong-000"))
    )
    with pytest.raises(AuthFailed) as caught:
        await check(Anthropic(), bad, handler)
    assert caught.value.provider_code == "authentication_error"


async def test_gemini_check_uses_the_documented_request_and_reads_a_bad_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return gemini(request)

    good = integration("google_genai", GeminiConfig(), LlmCredentials(api_key=SecretStr(GEMINI_KEY)))
    await check(Gemini(), good, handler)
    assert seen[0].url.copy_with(query=None) == "https://generativelanguage.googleapis.com/v1beta/models"
    bad = integration("google_genai", GeminiConfig(), LlmCredentials(api_key=SecretStr("AIza-wrong-key-000")))
    with pytest.raises(AuthFailed) as caught:
        await check(Gemini(), bad, handler)
    assert caught.value.provider_code == "INVALID_ARGUMENT"
    assert "AIza-wrong-key-000" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, {"error": {"message": "not found"}}, Rejected),
        (503, {"error": {"message": "overloaded"}}, Unavailable),
        (400, {"error": {"message": "bad", "code": "invalid_request"}}, Rejected),
        (200, {"object": "list"}, InvalidResponse),
        (200, ["not", "an", "object"], InvalidResponse),
    ],
)
async def test_other_answers_become_connector_errors(status: int, body: Any, error: type[Exception]) -> None:
    found = integration("openai", OpenAiConfig(), LlmCredentials(api_key=SecretStr("sk-proj-abcdefgh")))
    with pytest.raises(error):
        await check(OpenAi(), found, lambda request: httpx.Response(status, json=body))


def test_the_llm_connectors_hold_credentials_and_declare_no_actions() -> None:
    registry = default_registry(plugins=False)
    for key in ("openai", "anthropic", "google_genai", "openai_compatible"):
        connector = registry.get(key)
        assert connector is not None, key
        assert type(connector).actions() == []
        assert "api_key" in type(connector).credentials_model.model_fields
        assert {"base_url", "default_model", "region"} <= set(type(connector).config_model.model_fields)
    assert "organization" in OpenAi.config_model.model_fields
