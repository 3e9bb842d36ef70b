"""The LLM sandbox over real HTTP: OpenAI's auth and error bodies, scripts per API key, tool
calls, streaming with the usage chunk, embeddings, and the documented default reply."""

from __future__ import annotations

import base64
import json
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.connectors.sandbox import builtin_sandboxes, serving
from smeflow.connectors.sandbox.llm import LlmSandbox, count_tokens


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(LlmSandbox(api_keys=("team-key-7f3a",))) as served:
        yield served


def new_key() -> str:
    return f"sk-sandbox-{uuid.uuid4().hex}"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(url: str, key: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=auth(key))


def script(url: str, key: str, *turns: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/_sandbox/llm/script", json=list(turns), headers=auth(key))


def test_the_llm_sandbox_is_a_builtin() -> None:
    assert builtin_sandboxes()["llm"] is LlmSandbox


def test_a_missing_or_wrong_key_gets_openais_401(url: str) -> None:
    missing = httpx.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": []})
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "didn't provide an API key" in missing.json()["error"]["message"]
    wrong = chat(url, "sk-wrong-0000000000", "hi")
    assert wrong.status_code == 401
    error = wrong.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["param"] is None
    assert "sk-wrong-0000000000" not in error["message"]
    assert httpx.get(f"{url}/v1/models", headers=auth("sk-sandbox-")).status_code == 401
    assert httpx.get(f"{url}/_sandbox/llm/requests").status_code == 401
    assert chat(url, "team-key-7f3a", "hi").status_code == 200


def test_models_lists_openai_shaped_entries(url: str) -> None:
    answer = httpx.get(f"{url}/v1/models", headers=auth(new_key()))
    assert answer.status_code == 200
    listed = answer.json()
    assert listed["object"] == "list"
    assert {"id": "gpt-4o-mini", "object": "model"}.items() <= listed["data"][0].items()


def test_an_unscripted_request_quotes_the_last_user_message_with_counted_usage(url: str) -> None:
    answer = chat(url, new_key(), "Book me a haircut, please!")
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"].startswith("chatcmpl-")
    assert len(body["id"]) == len("chatcmpl-") + 24
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    assert isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    content = choice["message"]["content"]
    assert content == 'Sandbox reply: you said "Book me a haircut, please!".'
    usage = body["usage"]
    assert usage["prompt_tokens"] == 7  # Book me a haircut , please !
    assert usage["completion_tokens"] == count_tokens(content)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


@given(st.lists(st.sampled_from(["word", "ndio", ",", "!", " ", "KES", "1500", "."]), max_size=30))
def test_the_token_count_is_words_plus_punctuation(parts: list[str]) -> None:
    text = "".join(parts)
    words = sum(1 for w in text.replace(",", " ").replace("!", " ").replace(".", " ").split())
    marks = sum(text.count(mark) for mark in ",!.")
    assert count_tokens(text) == words + marks


def test_scripted_turns_are_used_in_order_with_their_usage(url: str) -> None:
    key = new_key()
    queued = script(
        url,
        key,
        {"content": "first", "usage": {"prompt_tokens": 120, "completion_tokens": 9, "cached_tokens": 100}},
        {"content": "second"},
    )
    assert queued.status_code == 200
    assert [t["content"] for t in queued.json()["turns"]] == ["first", "second"]
    one = chat(url, key, "a").json()
    assert one["choices"][0]["message"]["content"] == "first"
    assert one["usage"]["prompt_tokens"] == 120
    assert one["usage"]["completion_tokens"] == 9
    assert one["usage"]["total_tokens"] == 129
    assert one["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
    assert chat(url, key, "b").json()["choices"][0]["message"]["content"] == "second"
    assert chat(url, key, "c").json()["choices"][0]["message"]["content"].startswith("Sandbox reply")


def test_scripts_are_per_api_key(url: str) -> None:
    mine, theirs = new_key(), new_key()
    script(url, mine, {"content": "only for me"})
    assert chat(url, theirs, "hello").json()["choices"][0]["message"]["content"].startswith("Sandbox reply")
    assert chat(url, mine, "hello").json()["choices"][0]["message"]["content"] == "only for me"
    seen = httpx.get(f"{url}/_sandbox/llm/requests", headers=auth(theirs)).json()["requests"]
    assert [r["path"] for r in seen] == ["/v1/chat/completions"]
    assert seen[0]["body"]["messages"] == [{"role": "user", "content": "hello"}]


def test_a_turn_with_match_waits_for_a_message_containing_it(url: str) -> None:
    key = new_key()
    script(url, key, {"match": "tool says", "content": "after the tool"}, {"content": "plain"})
    assert chat(url, key, "anything").json()["choices"][0]["message"]["content"] == "plain"
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "the tool says 42"},
        ],
    }
    answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers=auth(key)).json()
    assert answer["choices"][0]["message"]["content"] == "after the tool"


def test_a_scripted_tool_call_has_openais_shape(url: str) -> None:
    key = new_key()
    script(url, key, {"tool_calls": [{"name": "book_slot", "arguments": {"service": "haircut", "hour": 10}}]})
    body = chat(url, key, "book").json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"]["name"] == "book_slot"
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {"service": "haircut", "hour": 10}
    assert choice["message"]["content"] is None


def test_a_scripted_error_gets_its_status_and_openais_error_body(url: str) -> None:
    key = new_key()
    script(url, key, {"error": {"status": 429, "message": "Rate limit reached", "retry_after": 2}})
    answer = chat(url, key, "hi")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["error"] == {
        "message": "Rate limit reached",
        "type": "rate_limit_exceeded",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert chat(url, key, "hi").status_code == 200


def test_a_bad_script_is_refused_naming_the_problem(url: str) -> None:
    key = new_key()
    refused = script(url, key, {"usage": {"prompt_tokens": 1}})
    assert refused.status_code == 400
    assert "content, tool_calls or an error" in refused.json()["error"]
    assert httpx.get(f"{url}/_sandbox/llm/script", headers=auth(key)).json() == {"turns": []}


def test_delete_forgets_the_script_and_the_requests(url: str) -> None:
    key = new_key()
    script(url, key, {"content": "never used"})
    chat(url, key, "hi")  # takes it
    script(url, key, {"content": "forgotten"})
    assert httpx.delete(f"{url}/_sandbox/llm/script", headers=auth(key)).json() == {"turns": []}
    assert chat(url, key, "hi").json()["choices"][0]["message"]["content"].startswith("Sandbox reply")
    assert len(httpx.get(f"{url}/_sandbox/llm/requests", headers=auth(key)).json()["requests"]) == 2
    assert httpx.delete(f"{url}/_sandbox/llm/requests", headers=auth(key)).json() == {"requests": []}


def events(answer: httpx.Response) -> list[Any]:
    lines = [line.removeprefix("data: ") for line in answer.text.split("\n\n") if line]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_streaming_sends_chunks_and_a_final_usage_chunk(url: str) -> None:
    key = new_key()
    script(url, key, {"content": "Karibu sana rafiki", "usage": {"prompt_tokens": 11, "cached_tokens": 4}})
    answer = chat(url, key, "hi", stream=True, stream_options={"include_usage": True})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    chunks = events(answer)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Karibu sana rafiki"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 11
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 4


def test_streaming_without_include_usage_has_no_usage_chunk(url: str) -> None:
    chunks = events(chat(url, new_key(), "hi", stream=True))
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_streamed_tool_call_reassembles_into_its_arguments(url: str) -> None:
    key = new_key()
    script(url, key, {"tool_calls": [{"name": "lookup", "arguments": {"phone": "+254712345678"}}]})
    chunks = events(chat(url, key, "who", stream=True))
    pieces = [c["choices"][0]["delta"].get("tool_calls") for c in chunks if c["choices"]]
    calls = [p[0] for p in pieces if p]
    assert calls[0]["function"]["name"] == "lookup"
    assert calls[0]["id"].startswith("call_")
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"phone": "+254712345678"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_embeddings_are_deterministic_unit_vectors_in_both_encodings(url: str) -> None:
    key = new_key()
    body = {"model": "text-embedding-3-small", "input": ["habari", "hello"], "dimensions": 16}
    first = httpx.post(f"{url}/v1/embeddings", json=body, headers=auth(key)).json()
    again = httpx.post(f"{url}/v1/embeddings", json=body, headers=auth(key)).json()
    assert first["data"] == again["data"]
    one, two = (d["embedding"] for d in first["data"])
    assert len(one) == 16
    assert one != two
    assert abs(sum(v * v for v in one) - 1) < 1e-9
    assert first["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    packed = httpx.post(
        f"{url}/v1/embeddings",
        json={**body, "input": "habari", "encoding_format": "base64"},
        headers=auth(key),
    ).json()
    decoded = struct.unpack("<16f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded == pytest.approx(one, abs=1e-6)
    default = httpx.post(f"{url}/v1/embeddings", json={"model": "m", "input": "x"}, headers=auth(key)).json()
    assert len(default["data"][0]["embedding"]) == 1536


def test_a_malformed_request_gets_a_400_naming_the_parameter(url: str) -> None:
    key = new_key()
    no_messages = httpx.post(
        f"{url}/v1/chat/completions", json={"model": "m", "messages": []}, headers=auth(key)
    )
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    not_json = httpx.post(f"{url}/v1/chat/completions", content=b"{", headers=auth(key))
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    bad_input = httpx.post(f"{url}/v1/embeddings", json={"model": "m", "input": []}, headers=auth(key))
    assert bad_input.status_code == 400
    assert bad_input.json()["error"]["param"] == "input"


def test_the_openai_sdk_reads_the_sandboxs_models_and_embeddings(url: str) -> None:
    with httpx.Client() as http:
        client = openai.OpenAI(api_key=new_key(), base_url=f"{url}/v1", http_client=http, max_retries=0)
        assert "gpt-4o-mini" in [model.id for model in client.models.list()]
        # the SDK asks for base64 unless told otherwise, and decodes it
        vectors = client.embeddings.create(model="text-embedding-3-small", input=["habari"], dimensions=8)
        direct = client.embeddings.create(
            model="text-embedding-3-small", input="habari", dimensions=8, encoding_format="float"
        )
        assert vectors.data[0].embedding == pytest.approx(direct.data[0].embedding, abs=1e-6)
        assert vectors.usage.prompt_tokens == 1
