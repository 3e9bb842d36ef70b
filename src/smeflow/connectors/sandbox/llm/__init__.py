"""The LLM sandbox (``smeflow sandbox llm``): an OpenAI-compatible local server, so the real
provider client path (ChatOpenAI → openai → httpx) is exercised over HTTP with no network.

Key contracts:

* It speaks OpenAI's Chat Completions (plain and streamed, with the usage chunk), Models and
  Embeddings APIs under ``/v1``, with OpenAI's error bodies; ``LlmSandbox.scenarios`` documents
  the accepted keys, the script format and the token count.
* Scripts and the record of received requests are **per API key**: tests that each use their own
  ``sk-sandbox-…`` key never see one another's turns, even on one shared server.
"""

from smeflow.connectors.sandbox.llm._sandbox import DEFAULT_KEY, KEY_PREFIX, MODELS, LlmSandbox
from smeflow.connectors.sandbox.llm._script import Turn, TurnError, TurnToolCall, TurnUsage, count_tokens

__all__ = [
    "DEFAULT_KEY",
    "KEY_PREFIX",
    "MODELS",
    "LlmSandbox",
    "Turn",
    "TurnError",
    "TurnToolCall",
    "TurnUsage",
    "count_tokens",
]
