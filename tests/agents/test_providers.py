"""Chat models by reference: parsing, ``build_chat_model`` for OpenAI and OpenAI-compatible
servers over real HTTP against the LLM sandbox (ChatOpenAI → openai → our httpx client), the
Anthropic and Gemini classes as constructed (no network: there is no sandbox of theirs), and
usage and cost arithmetic."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_openai import ChatOpenAI

from smeflow.agents import ModelRef, Usage, build_chat_model, cost_micros, parse_model_ref, usage_of
from smeflow.connectors.sandbox import serving
from smeflow.connectors.sandbox.llm import LlmSandbox
from smeflow.settings import LlmPrice, default_llm_prices

BOOK_SLOT = {
    "type": "function",
    "function": {
        "name": "book_slot",
        "description": "Book a salon slot for a customer.",
        "parameters": {
            "type": "object",
            "properties": {"service": {"type": "string"}, "hour": {"type": "integer"}},
            "required": ["service", "hour"],
        },
    },
}


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serving(LlmSandbox()) as url:
        yield url


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared


def new_key() -> str:
    return f"sk-sandbox-{uuid.uuid4().hex}"


def script(url: str, key: str, *turns: dict[str, Any]) -> None:
    answer = httpx.post(
        f"{url}/_sandbox/llm/script", json=list(turns), headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200, answer.text


def received(url: str, key: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/_sandbox/llm/requests", headers={"Authorization": f"Bearer {key}"})
    requests: list[dict[str, Any]] = answer.json()["requests"]
    return requests


# --- parse_model_ref ---------------------------------------------------------------------


def test_parse_model_ref_reads_provider_and_model() -> None:
    assert parse_model_ref("openai:gpt-4o-mini") == ModelRef("openai", "gpt-4o-mini")
    assert parse_model_ref(" anthropic:claude-3-5-haiku-latest ") == ModelRef(
        "anthropic", "claude-3-5-haiku-latest"
    )
    assert parse_model_ref("google_genai:gemini-2.0-flash").key == "google_genai:gemini-2.0-flash"
    ollama = parse_model_ref("openai_compatible:llama3.1:8b")
    assert ollama == ModelRef("openai_compatible", "llama3.1:8b")
    assert str(ollama) == "openai_compatible:llama3.1:8b"
    offline = parse_model_ref("offline")
    assert offline.offline
    assert offline.key == "offline"
    assert not ollama.offline


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("gpt-4o-mini", "provider:model"),
        ("", "provider:model"),
        ("google:gemini-2.0-flash", "unknown provider 'google'"),
        ("OpenAI:gpt-4o", "unknown provider 'OpenAI'"),
        ("openai:", "missing"),
        ("openai:gpt 4o", "spaces"),
        ("offline:x", "unknown provider 'offline'"),
    ],
)
def test_parse_model_ref_refuses_readably(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="model") as caught:
        parse_model_ref(text)
    assert says in str(caught.value)
    if "unknown provider" in says:
        assert "openai, anthropic, google_genai, openai_compatible" in str(caught.value)


def test_build_chat_model_refuses_what_it_cannot_build() -> None:
    common: dict[str, Any] = {"http_client": None, "timeout": 5.0}
    with pytest.raises(ValueError, match="offline"):
        build_chat_model(parse_model_ref("offline"), api_key="k", base_url=None, **common)
    with pytest.raises(ValueError, match="API key"):
        build_chat_model(parse_model_ref("openai:gpt-4o-mini"), api_key=None, base_url=None, **common)
    with pytest.raises(ValueError, match="base_url"):
        build_chat_model(parse_model_ref("openai_compatible:llama3"), api_key=None, base_url=None, **common)


# --- OpenAI and compatible servers, over HTTP ----------------------------------------------


async def test_openai_tool_call_then_answer_through_our_client(
    sandbox_url: str, client: httpx.AsyncClient
) -> None:
    key = new_key()
    script(
        sandbox_url,
        key,
        {
            "tool_calls": [{"name": "book_slot", "arguments": {"service": "haircut", "hour": 10}}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 12, "cached_tokens": 64},
        },
        {
            "match": "booked",
            "content": "You are booked for 10:00.",
            "usage": {"prompt_tokens": 95, "completion_tokens": 7},
        },
    )
    sent: list[httpx.Request] = []

    async def note(request: httpx.Request) -> None:
        sent.append(request)

    client.event_hooks["request"].append(note)
    model = build_chat_model(
        parse_model_ref("openai:gpt-4o-mini"),
        api_key=key,
        base_url=f"{sandbox_url}/v1",
        http_client=client,
        timeout=10.0,
    )
    assert isinstance(model, ChatOpenAI)
    bound = model.bind_tools([BOOK_SLOT])
    question = HumanMessage("Book me a haircut at 10")
    first = await bound.ainvoke([question])
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert call["name"] == "book_slot"
    assert call["args"] == {"service": "haircut", "hour": 10}
    assert usage_of(first) == Usage(input_tokens=80, output_tokens=12, cached_tokens=64)

    result = ToolMessage("booked: slot 17", tool_call_id=str(call["id"]))
    second = await bound.ainvoke([question, first, result])
    assert isinstance(second, AIMessage)
    assert second.content == "You are booked for 10:00."
    assert second.tool_calls == []
    assert usage_of(second) == Usage(input_tokens=95, output_tokens=7, cached_tokens=0)

    assert len(sent) == 2, "both calls went through the client we passed"
    bodies = [r["body"] for r in received(sandbox_url, key)]
    assert bodies[0]["model"] == "gpt-4o-mini"
    assert bodies[0]["tools"][0]["function"]["name"] == "book_slot"
    assert bodies[1]["messages"][-1] == {
        "role": "tool",
        "content": "booked: slot 17",
        "tool_call_id": call["id"],
    }
    assert json.loads(bodies[1]["messages"][1]["tool_calls"][0]["function"]["arguments"]) == call["args"]


async def test_streaming_reports_the_sandboxs_usage(sandbox_url: str, client: httpx.AsyncClient) -> None:
    key = new_key()
    script(sandbox_url, key, {"content": "Habari yako", "usage": {"prompt_tokens": 30, "cached_tokens": 10}})
    model = build_chat_model(
        parse_model_ref("openai:gpt-4o-mini"),
        api_key=key,
        base_url=f"{sandbox_url}/v1",
        http_client=client,
        timeout=10.0,
    )
    total: Any = None
    async for chunk in model.astream("Salamu"):
        total = chunk if total is None else total + chunk
    assert total.content == "Habari yako"
    assert usage_of(total) == Usage(input_tokens=30, output_tokens=2, cached_tokens=10)
    (request,) = received(sandbox_url, key)
    assert request["body"]["stream"] is True
    assert request["body"]["stream_options"] == {"include_usage": True}


async def test_an_openai_compatible_server_with_no_key_of_its_own(client: httpx.AsyncClient) -> None:
    # a server that takes any key (Ollama); ChatOpenAI still sends a placeholder
    sandbox = LlmSandbox(api_keys=("no-key",), accept_prefix=False)
    with serving(sandbox) as url:
        sandbox.script_turns("no-key", {"content": "Sawubona!"})
        model = build_chat_model(
            parse_model_ref("openai_compatible:llama3.1:8b"),
            api_key=None,
            base_url=f"{url}/v1",
            http_client=client,
            timeout=10.0,
            temperature=0,
        )
        answer = await model.ainvoke("Hello")
    assert answer.content == "Sawubona!"
    (request,) = sandbox.requests_of("no-key")
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "llama3.1:8b"
    assert request["body"]["temperature"] == 0
    assert usage_of(answer).input_tokens == 1  # "Hello", by the sandbox's count


async def test_a_scripted_rate_limit_is_not_retried_by_default(
    sandbox_url: str, client: httpx.AsyncClient
) -> None:
    key = new_key()
    script(sandbox_url, key, {"error": {"status": 429, "message": "Rate limit reached for gpt-4o-mini"}})
    model = build_chat_model(
        parse_model_ref("openai:gpt-4o-mini"),
        api_key=key,
        base_url=f"{sandbox_url}/v1",
        http_client=client,
        timeout=10.0,
    )
    with pytest.raises(openai.RateLimitError):
        await model.ainvoke("hi")
    assert len(received(sandbox_url, key)) == 1, "max_retries=0: one request, SMEFlow's run retries decide"


async def test_a_wrong_key_is_openais_authentication_error(
    sandbox_url: str, client: httpx.AsyncClient
) -> None:
    model = build_chat_model(
        parse_model_ref("openai:gpt-4o-mini"),
        api_key="sk-proj-wrong",
        base_url=f"{sandbox_url}/v1",
        http_client=client,
        timeout=10.0,
    )
    with pytest.raises(openai.AuthenticationError):
        await model.ainvoke("hi")


# --- Anthropic and Gemini: construction only (no network) ---------------------------------


def test_anthropic_gets_the_key_base_url_timeout_and_retries() -> None:
    model = build_chat_model(
        parse_model_ref("anthropic:claude-3-5-haiku-latest"),
        api_key="sk-ant-api03-test",
        base_url="http://127.0.0.1:9/anthropic",
        http_client=None,
        timeout=12.5,
        max_tokens=300,
    )
    assert isinstance(model, ChatAnthropic)
    assert model.model == "claude-3-5-haiku-latest"
    assert model.anthropic_api_key.get_secret_value() == "sk-ant-api03-test"
    assert model.anthropic_api_url == "http://127.0.0.1:9/anthropic"
    assert model.default_request_timeout == 12.5
    assert model.max_retries == 0
    assert model.max_tokens == 300
    default = build_chat_model(
        parse_model_ref("anthropic:claude-sonnet-4-0"),
        api_key="k",
        base_url=None,
        http_client=None,
        timeout=5,
    )
    assert isinstance(default, ChatAnthropic)
    assert default.anthropic_api_url == "https://api.anthropic.com"


def test_gemini_gets_the_key_base_url_timeout_and_retries() -> None:
    model = build_chat_model(
        parse_model_ref("google_genai:gemini-2.0-flash"),
        api_key="AIza-test-key",
        base_url="http://127.0.0.1:9/gemini",
        http_client=None,
        timeout=7.0,
        max_retries=1,
    )
    assert isinstance(model, ChatGoogleGenerativeAI)
    assert model.model in ("gemini-2.0-flash", "models/gemini-2.0-flash")
    assert model.google_api_key is not None
    assert model.google_api_key.get_secret_value() == "AIza-test-key"
    assert model.base_url == "http://127.0.0.1:9/gemini"
    assert model.timeout == 7.0
    assert model.max_retries == 1


def test_openai_options_reach_chatopenai(client: httpx.AsyncClient) -> None:
    model = build_chat_model(
        parse_model_ref("openai:gpt-4o"),
        api_key="sk-proj-x",
        base_url=None,
        http_client=client,
        timeout=9.0,
        organization="org-abc",
    )
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "https://api.openai.com/v1"
    assert model.openai_organization == "org-abc"
    assert model.http_async_client is client
    assert model.request_timeout == 9.0
    assert model.max_retries == 0
    assert model.stream_usage is True


# --- usage and cost ------------------------------------------------------------------------


def test_usage_of_reads_langchains_usage_metadata() -> None:
    message = AIMessage(
        "hi",
        usage_metadata={
            "input_tokens": 100,
            "output_tokens": 20,
            "total_tokens": 120,
            "input_token_details": {"cache_read": 60},
        },
    )
    assert usage_of(message) == Usage(100, 20, 60)
    assert usage_of(AIMessage("no usage")) == Usage()
    assert Usage(1, 2, 3) + Usage(10, 20, 30) == Usage(11, 22, 33)


def test_cost_micros_prices_cached_tokens_apart_and_rounds_up() -> None:
    mini = default_llm_prices()["openai:gpt-4o-mini"]  # 0.15 / 0.60 / 0.075 USD per million
    assert cost_micros(Usage(1_000_000, 0, 0), mini) == 150_000
    assert cost_micros(Usage(1_000_000, 1_000_000, 1_000_000), mini) == 75_000 + 600_000
    assert cost_micros(Usage(1, 0, 0), mini) == 1  # 0.15 micro-dollars, rounded up
    assert cost_micros(Usage(0, 0, 0), mini) == 0
    no_cache_price = LlmPrice(input_per_million=2_000_000, output_per_million=0)
    assert cost_micros(Usage(10, 0, 10), no_cache_price) == 20  # cached at the input price
    assert cost_micros(Usage(500, 100, 0), None) == 0


prices = st.builds(
    LlmPrice,
    input_per_million=st.integers(0, 100_000_000),
    output_per_million=st.integers(0, 100_000_000),
    cached_per_million=st.none() | st.integers(0, 100_000_000),
)
usages = st.builds(Usage, st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))


@given(usages, prices, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_cost_is_a_non_negative_integer_monotone_in_tokens(
    usage: Usage, price: LlmPrice, more_in: int, more_out: int, more_cached: int
) -> None:
    cost = cost_micros(usage, price)
    assert isinstance(cost, int)
    assert cost >= 0
    bigger = Usage(usage.input_tokens + more_in, usage.output_tokens + more_out, usage.cached_tokens)
    assert cost_micros(bigger, price) >= cost
    # more prompt tokens read from the cache (each also a prompt token) never cost less
    cached_more = Usage(
        usage.input_tokens + more_cached, usage.output_tokens, usage.cached_tokens + more_cached
    )
    assert cost_micros(cached_more, price) >= cost


@given(usages, prices)
def test_cost_is_the_exact_price_rounded_up_to_a_whole_micro_dollar(usage: Usage, price: LlmPrice) -> None:
    rate = price.cached_per_million if price.cached_per_million is not None else price.input_per_million
    uncached = max(0, usage.input_tokens - usage.cached_tokens)
    exact = (
        uncached * price.input_per_million
        + usage.cached_tokens * rate
        + usage.output_tokens * price.output_per_million
    )  # millionths of a micro-dollar
    cost = cost_micros(usage, price)
    assert cost * 1_000_000 >= exact
    assert (cost - 1) * 1_000_000 < exact or cost == 0
