"""What a model call used, and what it cost in millionths of a US dollar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.messages import AIMessage

    from smeflow.settings import LlmPrice

_PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one or more model calls. ``input_tokens`` counts every prompt token, the
    ``cached_tokens`` the provider read from its prompt cache included (as LangChain reports them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
        )


def usage_of(message: AIMessage) -> Usage:
    """The usage LangChain put on ``message`` (``usage_metadata``; cached tokens from
    ``input_token_details.cache_read``); all zero when the provider reported none."""
    metadata = message.usage_metadata
    if metadata is None:
        return Usage()
    details = metadata.get("input_token_details") or {}
    return Usage(
        input_tokens=int(metadata.get("input_tokens", 0)),
        output_tokens=int(metadata.get("output_tokens", 0)),
        cached_tokens=int(details.get("cache_read", 0) or 0),
    )


def cost_micros(usage: Usage, price: LlmPrice | None) -> int:
    """What ``usage`` cost at ``price``, in integer millionths of a US dollar, rounded up (a
    model with no price costs 0). Cached tokens are priced at ``cached_per_million`` when the
    price has one, else like other input tokens; cached tokens beyond ``input_tokens`` count as
    cached only (never a negative uncached count)."""
    if price is None:
        return 0
    cached = max(0, usage.cached_tokens)
    uncached = max(0, usage.input_tokens - cached)
    cached_rate = (
        price.cached_per_million if price.cached_per_million is not None else price.input_per_million
    )
    total = (
        uncached * price.input_per_million
        + cached * cached_rate
        + max(0, usage.output_tokens) * price.output_per_million
    )
    return -(-total // _PER_MILLION)


__all__ = ["Usage", "cost_micros", "usage_of"]
