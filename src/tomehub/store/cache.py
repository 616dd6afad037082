"""Caches with versioned keys. A key is built from every version its value depends on (embedding
model and version, chat model, prompt hash, the user's library revision), so a change of any of them
is a miss by construction: nothing to bump by hand, nothing stale to forget.

L1 is in process, bounded by bytes and TTL (cachetools).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cachetools import TTLCache


def cache_key(kind: str, *parts: Any) -> str:
    """Returns ``kind:<digest of parts>``; parts are JSON-encoded, so order and types matter."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return f"{kind}:{hashlib.sha256(blob.encode()).hexdigest()[:32]}"


class Cache:
    """An in-process cache of bytes, bounded by their total size."""

    def __init__(self, *, max_bytes: int, ttl_s: float) -> None:
        self._l1: TTLCache[str, bytes] = TTLCache(maxsize=max_bytes, ttl=ttl_s, getsizeof=len)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._l1.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def set(self, key: str, value: bytes) -> None:
        if len(value) <= self._l1.maxsize:
            self._l1[key] = value
