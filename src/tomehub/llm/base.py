"""What TomeHub asks of a model provider, independent of who provides it.

::

    LLMError                 a provider call failed (network, status, payload)
    └── ProviderUnavailable  the provider cannot be used now (not configured, breaker open)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tomehub.resilience.deadline import Deadline

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


class LLMError(Exception):
    """A provider call failed."""


class ProviderUnavailable(LLMError):
    """The provider cannot be used right now."""


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
