"""The ``Embedder`` search and ingestion use: one embedding space, calls through the gateway.

Search and ingestion embed with the same model (they must share a vector space) but as different
operations: each has its own breaker, timeout and retry policy, and ingestion stays out of the
reserve interactive calls keep on the provider's bulkhead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tomehub.llm.base import Matrix, Vector
from tomehub.llm.gateway import LLMGateway, Operation
from tomehub.resilience.deadline import Deadline


@dataclass(frozen=True)
class EmbeddingSpace:
    """The identity of a set of vectors: only vectors of one space are ever compared."""

    model: str
    version: str
    dim: int


class GatewayEmbedder:
    """Embeds for one operation through the gateway."""

    def __init__(
        self,
        gateway: LLMGateway,
        operation: Operation,
        space: EmbeddingSpace,
        *,
        count_tokens: Callable[[str], int],
        batch_size: int,
    ) -> None:
        self.gateway = gateway
        self.operation = operation
        self.space = space
        self.model = space.model
        self.version = space.version
        self.dim = space.dim
        self._count_tokens = count_tokens
        self.batch_size = batch_size

    def count_tokens(self, text: str) -> int:
        return self._count_tokens(text)

    async def embed_query(self, text: str, *, deadline: Deadline | None = None) -> Vector:
        if deadline is not None:
            deadline.check("the query embedding")
        vectors = await self.gateway.embed(self.operation, [text], deadline=deadline, is_query=True)
        vector: Vector = vectors[0]
        return vector

    async def embed_passages(self, texts: list[str], *, deadline: Deadline | None = None) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            parts.append(await self.gateway.embed(self.operation, batch, deadline=deadline, is_query=False))
        stacked: Matrix = np.concatenate(parts).astype(np.float32)
        return stacked
