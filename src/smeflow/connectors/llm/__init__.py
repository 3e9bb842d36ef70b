"""Language-model providers as connectors: ``openai``, ``anthropic``, ``google_genai`` (Gemini)
and ``openai_compatible`` (Ollama, vLLM, llama.cpp).

Key contracts:

* They hold credentials and nothing else: a tenant connects one as an integration, so its key
  is encrypted in the vault like any other provider's; they declare no actions. Agents build
  LangChain chat models from the decrypted integration (:mod:`smeflow.agents`); this package
  imports no LLM SDK.
* ``check`` lists the provider's models through the integration's HTTP client (OpenAI and
  compatible servers ``GET {base_url}/models``; Anthropic ``GET {base_url}/v1/models`` with
  ``x-api-key`` and ``anthropic-version: 2023-06-01``; Gemini ``GET
  {base_url}/v1beta/models?key=…``). A refused key is :class:`AuthFailed`.
* ``base_url`` is what the provider's own SDK calls its base URL: OpenAI's and a compatible
  server's include ``/v1`` (``https://api.openai.com/v1``, ``http://localhost:11434/v1``), so
  the same value is handed to ``ChatOpenAI``; Anthropic's and Gemini's are the bare host.
* ``region`` is free text naming where the provider processes data, read by the residency policy.
"""

from smeflow.connectors.llm._connectors import ANTHROPIC_VERSION, Anthropic, Gemini, OpenAi, OpenAiCompatible
from smeflow.connectors.llm._settings import (
    AnthropicConfig,
    GeminiConfig,
    LlmConfig,
    LlmCredentials,
    OpenAiCompatibleConfig,
    OpenAiConfig,
    OptionalKeyCredentials,
)

__all__ = [
    "ANTHROPIC_VERSION",
    "Anthropic",
    "AnthropicConfig",
    "Gemini",
    "GeminiConfig",
    "LlmConfig",
    "LlmCredentials",
    "OpenAi",
    "OpenAiCompatible",
    "OpenAiCompatibleConfig",
    "OpenAiConfig",
    "OptionalKeyCredentials",
]
