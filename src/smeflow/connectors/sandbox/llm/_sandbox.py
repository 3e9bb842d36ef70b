"""The LLM sandbox: an OpenAI-compatible server (Chat Completions, streamed or not, Models,
Embeddings) whose answers tests script per API key."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Collection
from typing import Any, ClassVar

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from smeflow.connectors.sandbox._base import Sandbox
from smeflow.connectors.sandbox.llm import _bodies as bodies
from smeflow.connectors.sandbox.llm._script import Scripts, Turn

#: every key with this prefix is accepted (a test takes one of its own: ``sk-sandbox-<uuid>``)
KEY_PREFIX = "sk-sandbox-"
DEFAULT_KEY = "sk-sandbox-0123456789"
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "text-embedding-3-large")
_DIMENSIONS = {"text-embedding-3-large": 3072}
_TURNS = TypeAdapter(list[Turn])
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
    "username) if you're accessing the API from your browser and are prompted for a username and "
    "password. You can obtain an API key from https://platform.openai.com/account/api-keys."
)
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}
_ERROR_TYPES |= {429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}


class LlmSandbox(Sandbox):
    """See ``scenarios``."""

    key: ClassVar[str] = "llm"
    title: ClassVar[str] = "OpenAI-compatible LLM API (Chat Completions, Models, Embeddings)"
    scenarios: ClassVar[str] = """\
OpenAI's API under /v1: POST /v1/chat/completions (stream: true answers Server-Sent Events, with a
last chunk holding the usage when stream_options.include_usage is true), GET /v1/models,
POST /v1/embeddings. Point an OpenAI client (or the openai / openai_compatible connector) at
<url>/v1. Any model name is accepted and echoed.

Authorization: Bearer <key>, where the key is one given to LlmSandbox(api_keys=...) or any key
starting with sk-sandbox- (default sk-sandbox-0123456789); a missing or wrong key gets OpenAI's
401 error body (code invalid_api_key).

Scripts, per API key (send the same Authorization header to the control routes):
  POST   /_sandbox/llm/script    [turn, ...] or {"turns": [turn, ...]}: queue answers
  GET    /_sandbox/llm/script    the turns still queued
  DELETE /_sandbox/llm/script    forget them
  GET    /_sandbox/llm/requests  {"requests": [{"path", "body"}, ...]}: every /v1 request received
  DELETE /_sandbox/llm/requests  forget them
A turn is {"content": "..."} or {"tool_calls": [{"name": "...", "arguments": {...}, "id"?}],
"content"?: "..."} or {"error": {"status": 429, "message"?, "type"?, "code"?, "retry_after"?}},
each with an optional "usage": {"prompt_tokens"?, "completion_tokens"?, "cached_tokens"?} and an
optional "match": text that must appear in the last user or tool message for the turn to be used
(a turn that does not match stays queued). Each chat completion takes the first usable turn.

Unscripted chat completions answer 'Sandbox reply: you said "<last user or tool message>".'
Counted usage (when a turn gives none): tokens are words plus punctuation marks; prompt tokens
count every message's text and tool-call names and arguments; cached tokens are 0.
Embeddings are deterministic unit vectors from a hash of the text (same text, same vector; no
meaning), 1536 dimensions (3072 for text-embedding-3-large) unless "dimensions" is given.
"""

    def __init__(self, *, api_keys: Collection[str] = (DEFAULT_KEY,), accept_prefix: bool = True) -> None:
        super().__init__()
        self.api_keys = frozenset(api_keys)
        self.accept_prefix = accept_prefix
        self.scripts = Scripts()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            Route("/_sandbox/llm/script", self._script, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/llm/requests", self._requests, methods=["GET", "DELETE"]),
        ]

    # --- Python controls (the same as the HTTP ones) ----------------------------------------

    def script_turns(self, api_key: str, *turns: Turn | dict[str, Any]) -> None:
        """Queue ``turns`` for ``api_key`` (dicts are read as ``POST /_sandbox/llm/script`` reads them)."""
        self.scripts.add(api_key, [t if isinstance(t, Turn) else Turn.model_validate(t) for t in turns])

    def requests_of(self, api_key: str) -> list[dict[str, Any]]:
        """What ``api_key`` sent to /v1, oldest first: ``{"path", "body"}``."""
        return self.scripts.requests(api_key)

    # --- authentication -------------------------------------------------------------------

    def _accepts(self, key: str) -> bool:
        if self.accept_prefix and key.startswith(KEY_PREFIX) and len(key) > len(KEY_PREFIX):
            return True
        return any(secrets.compare_digest(key.encode(), known.encode()) for known in self.api_keys)

    def _key(self, request: Request) -> tuple[str | None, Response | None]:
        """The request's API key, or the 401 OpenAI answers."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None, JSONResponse(bodies.error_body(_NO_KEY), status_code=401)
        if not self._accepts(key):
            shown = f"{key[:3]}{'*' * 10}{key[-4:]}" if len(key) > 8 else "*" * len(key)
            message = (
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            return None, JSONResponse(bodies.error_body(message, code="invalid_api_key"), status_code=401)
        return key, None

    async def _body(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return None, JSONResponse(bodies.error_body(message), status_code=400)
        return body, None

    # --- the API --------------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        key, refused = self._key(request)
        if key is None:
            self.record("POST", request.url.path, None)
            return refused or Response(status_code=401)
        body, bad = await self._body(request)
        self.record("POST", request.url.path, body)
        self.scripts.record(key, request.url.path, body)
        if body is None:
            return bad or Response(status_code=400)
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            return _invalid("you must provide a model parameter", "model")
        if not isinstance(messages, list) or not messages:
            return _invalid("[] is too short - 'messages'", "messages")
        turn = self.scripts.take(key, bodies.last_message(messages)) or bodies.default_turn(messages)
        if turn.error is not None:
            return _scripted_error(turn)
        if body.get("stream") is True:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            return StreamingResponse(
                _sse(bodies.chunks(model, turn, messages, include_usage=include_usage)),
                media_type="text/event-stream",
            )
        return JSONResponse(bodies.completion(model, turn, messages))

    async def _models(self, request: Request) -> Response:
        self.record("GET", request.url.path, None)
        key, refused = self._key(request)
        if key is None:
            return refused or Response(status_code=401)
        self.scripts.record(key, request.url.path, None)
        data = [
            {"id": name, "object": "model", "created": 1715367049, "owned_by": "smeflow-sandbox"}
            for name in MODELS
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _embeddings(self, request: Request) -> Response:
        key, refused = self._key(request)
        if key is None:
            self.record("POST", request.url.path, None)
            return refused or Response(status_code=401)
        body, bad = await self._body(request)
        self.record("POST", request.url.path, body)
        self.scripts.record(key, request.url.path, body)
        if body is None:
            return bad or Response(status_code=400)
        model, given = body.get("model"), body.get("input")
        inputs = [given] if isinstance(given, str) else given
        if not isinstance(model, str) or not model:
            return _invalid("you must provide a model parameter", "model")
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
            return _invalid("'input' must be a non-empty string or a list of non-empty strings", "input")
        dimensions = body.get("dimensions", _DIMENSIONS.get(model, 1536))
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 3072:
            return _invalid("'dimensions' must be an integer from 1 to 3072", "dimensions")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return _invalid("'encoding_format' must be 'float' or 'base64'", "encoding_format")
        return JSONResponse(bodies.embeddings(model, inputs, dimensions, encoding))

    # --- controls -------------------------------------------------------------------------

    async def _script(self, request: Request) -> Response:
        key, refused = self._key(request)
        if key is None:
            return refused or Response(status_code=401)
        if request.method == "DELETE":
            self.scripts.reset(key, requests=False)
        elif request.method == "POST":
            try:
                raw = orjson.loads(await request.body())
                turns = _TURNS.validate_python(raw.get("turns") if isinstance(raw, dict) else raw)
            except orjson.JSONDecodeError:
                return JSONResponse({"error": "the body is not JSON"}, status_code=400)
            except ValidationError as exc:
                problems = [f"{'.'.join(map(str, e['loc'])) or 'turns'}: {e['msg']}" for e in exc.errors()]
                return JSONResponse({"error": "; ".join(problems)}, status_code=400)
            self.scripts.add(key, turns)
        queued = [turn.model_dump(exclude_none=True) for turn in self.scripts.queued(key)]
        return JSONResponse({"turns": queued})

    async def _requests(self, request: Request) -> Response:
        key, refused = self._key(request)
        if key is None:
            return refused or Response(status_code=401)
        if request.method == "DELETE":
            self.scripts.reset(key, turns=False)
        return JSONResponse({"requests": self.scripts.requests(key)})


def _invalid(message: str, param: str) -> Response:
    body = bodies.error_body(message)
    body["error"]["param"] = param
    return JSONResponse(body, status_code=400)


def _scripted_error(turn: Turn) -> Response:
    error = turn.error
    assert error is not None
    kind = error.type or _ERROR_TYPES.get(error.status, "api_error")
    code = error.code or ("rate_limit_exceeded" if error.status == 429 else None)
    headers = {"retry-after": f"{error.retry_after:g}"} if error.retry_after is not None else None
    return JSONResponse(
        bodies.error_body(error.message, kind=kind, code=code), status_code=error.status, headers=headers
    )


async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


__all__ = ["DEFAULT_KEY", "KEY_PREFIX", "MODELS", "LlmSandbox"]
