"""The language-model connectors: credential holders for OpenAI, Anthropic, Gemini and
OpenAI-compatible servers. They have no actions (agents call the models through LangChain, in
:mod:`smeflow.agents`); :meth:`check` proves the key by listing the provider's models."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from smeflow.connectors._errors import AuthFailed, InvalidResponse, Rejected, Unavailable
from smeflow.connectors._http import json_body
from smeflow.connectors._sdk import ActionContext, Connector
from smeflow.connectors.llm._settings import (
    AnthropicConfig,
    GeminiConfig,
    LlmCredentials,
    OpenAiCompatibleConfig,
    OpenAiConfig,
    OptionalKeyCredentials,
)

#: the ``anthropic-version`` header the Anthropic API requires
ANTHROPIC_VERSION = "2023-06-01"


class _LlmConnector(Connector):
    """What the four share: a model list as ``check``, and how its answer is read."""

    version = "1.0.0"
    #: where the model list is, relative to the base URL
    models_path: ClassVar[str]

    def headers(self, ctx: ActionContext) -> dict[str, str]:
        return {}

    def params(self, ctx: ActionContext) -> dict[str, str]:
        return {}

    async def check(self, ctx: ActionContext) -> None:
        """List the provider's models: :class:`AuthFailed` if the key is refused."""
        response = await ctx.http.request(
            "GET", self.models_path, headers=self.headers(ctx), params=self.params(ctx) or None
        )
        self.read(response)

    def read(self, response: httpx.Response) -> Any:
        """The model list's JSON, or the connector error its status means."""
        status = response.status_code
        if status in (401, 403) or (status == 400 and b"API_KEY_INVALID" in response.content):
            raise AuthFailed(f"{self.title} refused the API key", provider_code=_code(response))
        if status == 404:
            raise Rejected(f"{self.title} has no model list at this address: check base_url")
        if status >= 500:
            raise Unavailable(f"{self.title} answered {status}")
        if status >= 400:
            raise Rejected(f"{self.title} refused the request ({status})", provider_code=_code(response))
        body = json_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("data", body.get("models")), list):
            raise InvalidResponse(f"{self.title}'s model list is not one")
        return body


def _code(response: httpx.Response) -> str | None:
    """The provider's error code: OpenAI ``error.code``, Gemini ``error.status``, Anthropic ``error.type``."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    if not isinstance(error, dict):
        return None
    for name in ("code", "status", "type"):
        if isinstance(error.get(name), str) and error[name]:
            return str(error[name])
    return None


def _bearer(ctx: ActionContext) -> dict[str, str]:
    key = ctx.credentials.api_key
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key is not None else {}


class OpenAi(_LlmConnector):
    """OpenAI's API (``GET {base_url}/models``, ``base_url`` ending in ``/v1``)."""

    key = "openai"
    title = "OpenAI"
    description = "OpenAI's language models (GPT-4o, GPT-4.1…) for agents: an API key, held in the vault."
    default_base_url = "https://api.openai.com/v1"
    credentials_model = LlmCredentials
    config_model = OpenAiConfig
    models_path = "models"

    def headers(self, ctx: ActionContext) -> dict[str, str]:
        headers = _bearer(ctx)
        if ctx.config.organization:
            headers["OpenAI-Organization"] = ctx.config.organization
        return headers


class OpenAiCompatible(_LlmConnector):
    """An OpenAI-compatible server (``GET {base_url}/models``; Ollama, vLLM and llama.cpp's server
    all list their models there)."""

    key = "openai_compatible"
    title = "OpenAI-compatible server"
    description = (
        "A self-hosted or third-party server speaking OpenAI's API (Ollama, vLLM, llama.cpp): "
        "its base URL, and an API key if it asks for one."
    )
    default_base_url = "http://localhost:11434/v1"
    credentials_model = OptionalKeyCredentials
    config_model = OpenAiCompatibleConfig
    models_path = "models"

    def headers(self, ctx: ActionContext) -> dict[str, str]:
        return _bearer(ctx)


class Anthropic(_LlmConnector):
    """Anthropic's API (``GET {base_url}/v1/models`` with ``x-api-key`` and ``anthropic-version``)."""

    key = "anthropic"
    title = "Anthropic"
    description = "Anthropic's Claude models for agents: an API key, held in the vault."
    default_base_url = "https://api.anthropic.com"
    credentials_model = LlmCredentials
    config_model = AnthropicConfig
    models_path = "v1/models"

    def headers(self, ctx: ActionContext) -> dict[str, str]:
        return {
            "x-api-key": ctx.credentials.api_key.get_secret_value(),
            "anthropic-version": ANTHROPIC_VERSION,
        }


class Gemini(_LlmConnector):
    """Google's Gemini API (``GET {base_url}/v1beta/models?key=…``)."""

    key = "google_genai"
    title = "Google Gemini"
    description = "Google's Gemini models (Google AI Studio) for agents: an API key, held in the vault."
    default_base_url = "https://generativelanguage.googleapis.com"
    credentials_model = LlmCredentials
    config_model = GeminiConfig
    models_path = "v1beta/models"

    def params(self, ctx: ActionContext) -> dict[str, str]:
        return {"key": ctx.credentials.api_key.get_secret_value()}


__all__ = ["ANTHROPIC_VERSION", "Anthropic", "Gemini", "OpenAi", "OpenAiCompatible"]
