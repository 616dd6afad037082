"""Counting the SQL statements a request sends (the N+1 and one-round-trip checks)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest


def count_statements(
    monkeypatch: pytest.MonkeyPatch, *, application_name: str = "tomehub-read", containing: str = ""
) -> Callable[[], int]:
    """Returns a function giving the number of statements sent since this call over connections
    whose application_name is ``application_name`` (and whose text contains ``containing``)."""
    calls: list[str] = []
    original = psycopg.AsyncConnection.execute

    async def counting(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
        if self.info.parameter_status("application_name") == application_name and containing in str(query):
            calls.append(str(query)[:60])
        return await original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", counting)
    return lambda: len(calls)
