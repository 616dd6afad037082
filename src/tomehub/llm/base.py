"""What TomeHub asks of a model provider, independent of who provides it.

Provider adapters translate their library's errors into this tree (``raise X from exc``); the
gateway decides from the class alone whether a failure counts against the breaker and may be retried::

    LLMError                    a provider call failed                    breaker   retry
    ├── ProviderUnavailable     not configured, or refused by us          -         no
    ├── ProviderTimeout         no answer in time                         counts    yes
    ├── ProviderConnectionError cannot reach the provider                 counts    yes
    ├── ProviderServerError     5xx                                       counts    yes
    ├── ProviderRateLimited     429 (+ Retry-After)                       counts    yes, after the pause
    ├── ProviderBadResponse     malformed payload                         counts    yes
    └── ProviderRejected        other 4xx: our request is wrong           -         no
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tomehub.resilience.deadline import Deadline

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


class LLMError(Exception):
    """A provider call failed."""

    counts_as_failure = True
    retryable = True


class ProviderUnavailable(LLMError):
    """The provider cannot be used right now."""

    counts_as_failure = False
    retryable = False


class ProviderTimeout(LLMError):
    """The provider did not answer in time."""


class ProviderConnectionError(LLMError):
    """The provider could not be reached."""


class ProviderServerError(LLMError):
    """The provider failed (5xx)."""


class ProviderRateLimited(LLMError):
    """The provider asked us to slow down (429)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderBadResponse(LLMError):
    """The provider answered with a payload we cannot read."""


class ProviderRejected(LLMError):
    """The provider refused the request itself (4xx other than 429): retrying cannot help."""

    counts_as_failure = False
    retryable = False


Message = dict[str, str]


@runtime_checkable
class EmbeddingProvider(Protocol):
    """A model that embeds texts (one call, many texts)."""

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix: ...


@runtime_checkable
class ChatProvider(Protocol):
    """A model that writes text from messages, whole or streamed."""

    async def complete(
        self,
        messages: list[Message],
        *,
        timeout_s: float,
        operation: str,
        json_mode: bool,
        max_tokens: int | None = None,
    ) -> str: ...

    def stream(self, messages: list[Message], *, timeout_s: float, operation: str) -> AsyncIterator[str]: ...


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit vectors; queries and passages may be embedded differently (e5 prefixes)."""

    @property
    def model(self) -> str:
        """Name of the model, part of every vector's identity."""
        ...

    @property
    def version(self) -> str:
        """Version of the weights/runtime; a change means old vectors are not comparable."""
        ...

    @property
    def dim(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Returns the number of tokens the model reads for ``text`` (the chunker's unit)."""
        ...

    async def embed_query(self, text: str, *, deadline: Deadline | None = None) -> Vector:
        """Returns the unit vector of a search query."""
        ...

    async def embed_passages(self, texts: list[str], *, deadline: Deadline | None = None) -> Matrix:
        """Returns one unit vector per passage, in order."""
        ...
