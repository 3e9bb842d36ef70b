"""A character n-gram index over the example utterances (TF-IDF, cosine similarity).

Embeddings of a small multilingual model blur words it has seen little of (Hausa, Igbo,
Zulu verbs); character 2-4-grams of the words (with word boundaries) catch shared stems,
misspellings and code-switching ("ku-book", "nimelipa"). Pure Python over sparse dicts: an
index of ~1,000 short examples answers a query in well under a millisecond.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from smeflow.understanding._text import normalize

_MIN_N, _MAX_N = 2, 4


def _grams(normalized: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for word in normalized.split():
        padded = f" {word} "
        out[padded] += 1
        for n in range(_MIN_N, _MAX_N + 1):
            for i in range(len(padded) - n + 1):
                out[padded[i : i + n]] += 1
    return out


class CharNgramIndex:
    """TF-IDF vectors of character n-grams of ``texts``; :meth:`similarities` gives cosines."""

    def __init__(self, texts: Sequence[str]) -> None:
        docs = [_grams(normalize(t)) for t in texts]
        df: Counter[str] = Counter(g for d in docs for g in d)
        n = len(docs)
        self._idf = {g: math.log((n + 1) / (c + 1)) + 1.0 for g, c in df.items()}
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, doc in enumerate(docs):
            for gram, weight in self._vector(doc).items():
                self._postings[gram].append((i, weight))
        self._size = n

    def _vector(self, grams: Counter[str]) -> dict[str, float]:
        vec = {g: (1.0 + math.log(c)) * self._idf[g] for g, c in grams.items() if g in self._idf}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {g: v / norm for g, v in vec.items()}

    def similarities(self, normalized: str) -> npt.NDArray[np.float64]:
        """Cosine similarity of the (already normalised) text with every indexed text."""
        out = np.zeros(self._size)
        for gram, weight in self._vector(_grams(normalized)).items():
            for i, w in self._postings[gram]:
                out[i] += weight * w
        return out


__all__ = ["CharNgramIndex"]
