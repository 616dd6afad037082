"""Ingestion over HTTP against the real database: every format, bad files, idempotency, limits."""

from __future__ import annotations

import pytest

from tests.integration.conftest import TestApp
from tests.support.documents import make_drm_epub, make_epub, make_html, make_pdf

pytestmark = pytest.mark.asyncio(loop_scope="session")

MARKDOWN = b"""# Being and Time

## Dasein

Dasein is Heidegger's term for the kind of being that human beings have. Dasein is the entity
for which its own being is an issue.

## Care

Care (Sorge) names the structure of Dasein's being: ahead-of-itself, already-in, being-alongside.
"""


async def test_markdown_is_chunked_by_chapter_and_searchable(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    done = await tapp.ingest(h, "being.md", MARKDOWN, title="Being and Time notes", tags="philosophy, Heidegger")
    assert done["run"]["status"] == "succeeded"
    item = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert item["status"] == "ready"
    assert item["tags"] == ["philosophy", "heidegger"]
    assert item["language"] == "english"
    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": "What is Dasein?"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert resp.headers["X-TomeHub-Tier"] == "1"
    assert body["tier"] == 1
    assert body["hits"][0]["chapter"] == "Dasein"
    assert body["hits"][0]["title"] == "Being and Time notes"
