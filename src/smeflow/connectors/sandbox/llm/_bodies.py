"""The JSON bodies the LLM sandbox answers with, shaped as OpenAI's Chat Completions and
Embeddings APIs shape theirs (ids, ``created``, ``usage`` with ``prompt_tokens_details``)."""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import string
import struct
import time
from typing import Any

import orjson

from smeflow.connectors.sandbox.llm._script import Turn, count_tokens

FINGERPRINT = "fp_sandbox01"
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An OpenAI-looking id: ``chatcmpl-`` / ``call_`` + 24 letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def error_body(
    message: str, *, kind: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def text_of(content: Any) -> str:
    """The text of a message's ``content`` (a string, or a list of parts of which text counts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def last_message(messages: list[Any]) -> str:
    """The text of the last user or tool message (what ``match`` and the default reply read)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") in ("user", "tool"):
            return text_of(message.get("content"))
    return ""


def prompt_tokens(messages: list[Any]) -> int:
    """The sandbox's prompt token count: :func:`count_tokens` over every message's text and the
    names and arguments of the tool calls it carries (no per-message overhead, no tool schemas)."""
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += count_tokens(text_of(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = (call.get("function") if isinstance(call, dict) else None) or {}
            total += count_tokens(str(function.get("name", ""))) + count_tokens(
                str(function.get("arguments", ""))
            )
    return total


def default_turn(messages: list[Any]) -> Turn:
    """The unscripted answer: it quotes the last user (or tool) message."""
    said = last_message(messages).strip()
    return Turn(content=f'Sandbox reply: you said "{said}".' if said else "Sandbox reply: hello.")


def tool_calls_of(turn: Turn) -> list[dict[str, Any]]:
    """The turn's tool calls in OpenAI's form (``arguments`` a JSON string)."""
    return [
        {
            "id": call.id or new_id("call_"),
            "type": "function",
            "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
        }
        for call in turn.tool_calls or []
    ]


def usage_of(turn: Turn, messages: list[Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``usage`` object: the turn's own figures, else counted (see :func:`prompt_tokens`)."""
    given = turn.usage
    prompt = given.prompt_tokens if given and given.prompt_tokens is not None else prompt_tokens(messages)
    if given and given.completion_tokens is not None:
        completion = given.completion_tokens
    else:
        completion = count_tokens(turn.content or "") + sum(
            count_tokens(c["function"]["name"]) + count_tokens(c["function"]["arguments"]) for c in calls
        )
    cached = min(given.cached_tokens, prompt) if given else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion(model: str, turn: Turn, messages: list[Any]) -> dict[str, Any]:
    """A ``chat.completion`` object answering with ``turn``."""
    calls = tool_calls_of(turn)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": turn.content,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": usage_of(turn, messages, calls),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def chunks(model: str, turn: Turn, messages: list[Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer: the role, the content word by
    word, each tool call (name, then its arguments in two pieces), the finish reason, and with
    ``include_usage`` a last chunk with no choices and the usage (the others carry ``usage: null``)."""
    calls = tool_calls_of(turn)
    base = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    base["system_fingerprint"] = FINGERPRINT

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = None
        return body

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    words = (turn.content or "").split(" ") if turn.content else []
    for index, word in enumerate(words):
        out.append(chunk({"content": word if index == 0 else " " + word}))
    for index, call in enumerate(calls):
        head = {"index": index, "id": call["id"], "type": "function"}
        out.append(
            chunk({"tool_calls": [{**head, "function": {"name": call["function"]["name"], "arguments": ""}}]})
        )
        arguments = call["function"]["arguments"]
        middle = len(arguments) // 2
        for piece in (arguments[:middle], arguments[middle:]):
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    out.append(chunk({}, "tool_calls" if calls else "stop"))
    if include_usage:
        out.append({**base, "choices": [], "usage": usage_of(turn, messages, calls)})
    return out


def embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text`` (SHAKE-256 of the text, not a meaning): the same
    text always gets the same vector, different texts almost surely different ones."""
    raw = hashlib.shake_256(text.encode()).digest(2 * dimensions)
    values = [(value - 32768) / 32768 for (value,) in struct.iter_unpack("<H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings(model: str, inputs: list[str], dimensions: int, encoding: str) -> dict[str, Any]:
    """An Embeddings API ``list`` (``encoding`` ``float`` or ``base64`` of little-endian float32)."""
    data = []
    for index, text in enumerate(inputs):
        vector = embedding(text, dimensions)
        shown: Any = vector
        if encoding == "base64":
            shown = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": shown})
    tokens = sum(count_tokens(text) for text in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


__all__ = [
    "chunks",
    "completion",
    "default_turn",
    "embedding",
    "embeddings",
    "error_body",
    "last_message",
    "new_id",
    "prompt_tokens",
    "text_of",
]
