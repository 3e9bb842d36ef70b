"""Chat models by reference: ``"openai:gpt-4o-mini"`` → a LangChain chat model.

A tenant's agent names its model as ``provider:model`` (or ``offline``: no model, the offline
understanding layer answers). :func:`build_chat_model` makes the LangChain chat model through
``langchain.chat_models.init_chat_model`` from the tenant's decrypted integration (its key and
base URL), never from the environment.

What each provider's LangChain class accepts for HTTP (checked against the installed versions):

* ``openai`` and ``openai_compatible`` → ``ChatOpenAI``: ``http_async_client`` takes our
  ``httpx.AsyncClient``, so calls go through the host's pooled (and SSRF-guarded) client; a
  compatible server is ``ChatOpenAI`` with its ``base_url`` (and a placeholder key if it has none).
* ``anthropic`` → ``ChatAnthropic``: takes no HTTP client (it always builds its own httpx client
  from ``base_url`` and ``timeout``); ``http_client`` is not used.
* ``google_genai`` → ``ChatGoogleGenerativeAI``: builds its google-genai ``Client`` itself and
  passes only ``client_args`` (keyword arguments for a new httpx client, applied to its sync and
  async clients alike) down, so it cannot take ours either; ``http_client`` is not used.

The provider SDKs are imported inside :func:`build_chat_model` (``langchain_openai`` alone takes
about two seconds to import): a process that never builds a model never pays for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args

if TYPE_CHECKING:
    import httpx
    from langchain_core.language_models import BaseChatModel

Provider = Literal["openai", "anthropic", "google_genai", "openai_compatible"]
PROVIDERS: Final[tuple[str, ...]] = get_args(Provider)
OFFLINE: Final = "offline"

#: the providers' production addresses, passed explicitly so no SDK falls back to an environment variable
DEFAULT_BASE_URLS: Final[dict[str, str]] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "google_genai": "https://generativelanguage.googleapis.com",
}
#: what ChatOpenAI sends as the key to a compatible server that needs none (the SDK requires one)
NO_KEY: Final = "no-key"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model as an agent names it: ``provider`` and the provider's ``model`` name.

    ``ModelRef("offline", "")`` is the offline understanding layer (:attr:`offline`)."""

    provider: Provider | Literal["offline"]
    model: str

    @property
    def offline(self) -> bool:
        return self.provider == OFFLINE

    @property
    def key(self) -> str:
        """``provider:model``, the key of ``Settings.llm_prices`` (``offline`` for the offline layer)."""
        return OFFLINE if self.offline else f"{self.provider}:{self.model}"

    def __str__(self) -> str:
        return self.key


def parse_model_ref(text: str) -> ModelRef:
    """``"openai:gpt-4o-mini"`` → ``ModelRef("openai", "gpt-4o-mini")``; ``"offline"`` → the
    offline layer. The model is everything after the first ``:`` (``"openai_compatible:llama3.1:8b"``).

    A :class:`ValueError` says what is wrong: no provider, an unknown one (naming those
    accepted), or no model name."""
    given = text.strip()
    if given == OFFLINE:
        return ModelRef(OFFLINE, "")
    provider, colon, model = given.partition(":")
    if not colon:
        raise ValueError(
            f"model {text!r} must be written provider:model (like openai:gpt-4o-mini) or {OFFLINE!r}"
        )
    if provider not in PROVIDERS:
        raise ValueError(
            f"model {text!r}: unknown provider {provider!r}; use one of {', '.join(PROVIDERS)} or {OFFLINE!r}"
        )
    if not model or any(c.isspace() for c in model):
        raise ValueError(f"model {text!r}: the model name after {provider + ':'!r} is missing or has spaces")
    return ModelRef(cast(Provider, provider), model)


def build_chat_model(
    ref: ModelRef,
    *,
    api_key: str | None,
    base_url: str | None,
    http_client: httpx.AsyncClient | None,
    timeout: float,
    max_retries: int = 0,
    **extra: Any,
) -> BaseChatModel:
    """The LangChain chat model for ``ref`` (see the module docstring for what each provider's
    class does with ``http_client``).

    ``api_key`` is required except for ``openai_compatible``, whose ``base_url`` is required
    instead; ``base_url`` defaults to the provider's production address. ``timeout`` (seconds) and
    ``max_retries`` (0: SMEFlow's run retries decide, not the SDK) go to the provider's client;
    ``extra`` goes to the class unchanged (``temperature``, ``organization``, ``max_tokens``…).
    OpenAI models report usage when streaming too (``stream_usage=True``), which LangChain turns
    off by default once a custom client or base URL is given."""
    if ref.offline:
        raise ValueError("the offline understanding layer has no chat model")
    if ref.provider == "openai_compatible":
        if not base_url:
            raise ValueError(
                "an openai_compatible model needs the server's base_url (e.g. http://localhost:11434/v1)"
            )
    elif not api_key:
        raise ValueError(f"a {ref.provider} model needs an API key (connect a {ref.provider} integration)")

    from langchain.chat_models import init_chat_model

    url = base_url or DEFAULT_BASE_URLS[ref.provider]
    common: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
    if ref.provider in ("openai", "openai_compatible"):
        options: dict[str, Any] = {"stream_usage": True, "http_async_client": http_client}
        if ref.provider == "openai_compatible":
            # compatible servers speak Chat Completions, not OpenAI's Responses API
            options["use_responses_api"] = False
        model: BaseChatModel = init_chat_model(
            ref.model,
            model_provider="openai",
            api_key=api_key or NO_KEY,
            base_url=url,
            **common,
            **options,
            **extra,
        )
    else:
        model = init_chat_model(
            ref.model, model_provider=ref.provider, api_key=api_key, base_url=url, **common, **extra
        )
    return model


__all__ = [
    "DEFAULT_BASE_URLS",
    "NO_KEY",
    "OFFLINE",
    "PROVIDERS",
    "ModelRef",
    "Provider",
    "build_chat_model",
    "parse_model_ref",
]
