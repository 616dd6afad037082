"""The ``Embedder`` search and ingestion use: one embedding space, calls through the gateway.

Search and ingestion embed with the same model (they must share a vector space) but as different
operations: each has its own breaker, timeout and retry policy, and ingestion stays out of the
reserve interactive calls keep on the provider's bulkhead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tomehub.errors import DeadlineExceeded
from tomehub.llm.base import (
    LLMError,
    Matrix,
    ProviderConnectionError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    Vector,
)
from tomehub.llm.gateway import LLMGateway, Operation
from tomehub.resilience.breaker import BreakerOpen
from tomehub.resilience.bulkhead import BulkheadFull
from tomehub.resilience.deadline import Deadline
from tomehub.resilience.pacing import PacedOut

# Why an embedding call can fail that says nothing of the text being embedded: the provider, or our
# own guards in front of it. Anything else (a database error) is the caller's to retry.
EMBEDDING_FAILURES: tuple[type[Exception], ...] = (LLMError, BreakerOpen, BulkheadFull, PacedOut, DeadlineExceeded)
_DETAIL_CHARS = 300


def describe_failure(exc: BaseException) -> str:
    """Returns, in plain words, why an embedding call failed (shown to a person watching a run)."""
    if isinstance(exc, BreakerOpen):
        return "breaker open: the embedding provider is failing, so calls to it are paused"
    if isinstance(exc, BulkheadFull | PacedOut):
        return "the embedding provider is busy (too many calls waiting for it)"
    if isinstance(exc, ProviderTimeout | DeadlineExceeded):
        return "the embedding provider did not answer in time"
    if isinstance(exc, ProviderConnectionError):
        return "the embedding provider cannot be reached"
    if isinstance(exc, ProviderRateLimited):
        return "the embedding provider keeps rate-limiting us (429)"
    if isinstance(exc, ProviderServerError | ProviderRejected):
        # The SDK's error (the cause) carries the provider's own words, e.g. "dimensions must be ...".
        status = getattr(exc.__cause__, "status_code", None)
        detail = getattr(exc.__cause__, "message", None)
        if status is not None:
            text = f"the embedding provider answered {status}"
            return f"{text}: {str(detail)[:_DETAIL_CHARS]}" if detail else text
    return str(exc)[:_DETAIL_CHARS] or exc.__class__.__name__


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
