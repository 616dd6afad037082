"""A hashed bag-of-words embedder: deterministic, instant, and meaningful enough that texts sharing
words are near each other. For tests and the fake provider only; never a production default."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from tomehub.llm.base import Matrix, Vector

_WORD = re.compile(r"\w+", re.UNICODE)


def hashed_bow(text: str, dim: int) -> Vector:
    """Returns the unit vector of ``text``'s hashed word counts (word prefixes of 5 letters)."""
    vec = np.zeros(dim, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word[:5].encode(), digest_size=8).digest()
        h = int.from_bytes(digest, "little")
        vec[h % dim] += 1.0 if (h >> 63) == 0 else -1.0
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return vec / norm


class HashingEmbedder:
    """An embedding provider over ``hashed_bow``; counts calls so tests can assert what was embedded."""

    def __init__(self, dim: int = 64, model: str = "hashed-bow", version: str = "1") -> None:
        self.dim = dim
        self.model = model
        self.version = version
        self.query_calls = 0
        self.passages_embedded = 0

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix:
        if is_query:
            self.query_calls += len(texts)
        else:
            self.passages_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([hashed_bow(t, self.dim) for t in texts])
