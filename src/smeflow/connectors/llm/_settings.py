"""The credentials and config models of the language-model connectors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smeflow.connectors._sdk import ConnectorConfig

_MODEL = r"^[^\s]{1,200}$"


class LlmCredentials(BaseModel):
    """A provider's API key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr = Field(min_length=1, max_length=500, description="the provider's API key")


class OptionalKeyCredentials(BaseModel):
    """An OpenAI-compatible server's API key, when it asks for one (Ollama does not)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr | None = Field(
        None, max_length=500, description="the server's API key, if it asks for one (vLLM --api-key)"
    )


class LlmConfig(ConnectorConfig):
    """Where the provider is, which model agents use unless they name one, and the region."""

    default_model: str = Field(
        min_length=1, max_length=200, pattern=_MODEL, description="the model agents use unless they name one"
    )
    region: str | None = Field(
        None,
        max_length=100,
        description="where the provider processes this tenant's data (free text, for the residency policy)",
    )


class OpenAiConfig(LlmConfig):
    """OpenAI: ``base_url`` is the API's root including ``/v1`` (the OpenAI SDK's ``base_url``)."""

    default_model: str = Field(
        "gpt-4o-mini",
        min_length=1,
        max_length=200,
        pattern=_MODEL,
        description="the model agents use unless they name one",
    )
    organization: str | None = Field(
        None, max_length=100, pattern=r"^[A-Za-z0-9_-]+$", description="the OpenAI organization id (org-…)"
    )


class AnthropicConfig(LlmConfig):
    """Anthropic: ``base_url`` is the API's root without ``/v1`` (the Anthropic SDK's ``base_url``)."""

    default_model: str = Field(
        "claude-3-5-haiku-latest",
        min_length=1,
        max_length=200,
        pattern=_MODEL,
        description="the model agents use unless they name one",
    )


class GeminiConfig(LlmConfig):
    """Gemini (Google AI Studio): ``base_url`` is the API's root without the version."""

    default_model: str = Field(
        "gemini-2.0-flash",
        min_length=1,
        max_length=200,
        pattern=_MODEL,
        description="the model agents use unless they name one",
    )


class OpenAiCompatibleConfig(LlmConfig):
    """An OpenAI-compatible server (Ollama, vLLM, llama.cpp): its base URL including ``/v1`` is
    required (Ollama: ``http://localhost:11434/v1``), and so is the model it serves."""

    base_url: str = Field(  # required here, optional in ConnectorConfig
        pattern=r"^https?://[^\s]+$",
        max_length=500,
        description="the server's OpenAI API address, including /v1 (Ollama: http://localhost:11434/v1)",
    )


__all__ = [
    "AnthropicConfig",
    "GeminiConfig",
    "LlmConfig",
    "LlmCredentials",
    "OpenAiCompatibleConfig",
    "OpenAiConfig",
    "OptionalKeyCredentials",
]
