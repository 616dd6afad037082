"""More sources against the real database: DOCX and ODT documents, Kindle clippings and Readwise
exports imported as highlights linked to their books, idempotent on re-import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import TestApp, zip_of
from tests.support.highlight_exports import (
    KINDLE_ENTRIES,
    READWISE_ROWS,
    clipping,
    make_clippings,
    make_readwise_csv,
)
from tests.support.office import make_docx, make_odt

CHAPTERS = [
    ("Tides", ["The moon pulls the oceans into two bulges, and the earth turns beneath them."]),
    ("Lighthouses", ["The Fresnel lens let a small flame be seen twenty miles out at sea."]),
]


@pytest.mark.parametrize(("filename", "make"), [("coast.docx", make_docx), ("coast.odt", make_odt)])
async def test_office_documents_ingest_with_chapters(tapp: TestApp, filename: str, make: Any) -> None:
    _, h = tapp.new_user()
    done = await tapp.ingest(h, filename, make(CHAPTERS, title="The Coast", author="Rachel Carson"))
    assert done["run"]["status"] == "succeeded", done["run"]
    item = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert (item["title"], item["author"], item["status"]) == ("The Coast", "Rachel Carson", "ready")
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "Fresnel lens flame"})).json()
    assert body["hits"], body
    assert body["hits"][0]["chapter"] == "Lighthouses"
    assert "Fresnel" in body["hits"][0]["text"]


async def _highlights(tapp: TestApp, h: dict[str, str]) -> list[dict[str, Any]]:
    resp = await tapp.client.get("/api/library/items?item_type=HIGHLIGHT&limit=100", headers=h)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


def _sources(items: list[dict[str, Any]]) -> dict[str, str | None]:
    return {item["id"]: item["source_item_id"] for item in items}


async def test_kindle_clippings_become_highlights_linked_to_their_book(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    book = await tapp.ingest(
        h,
        "wind.md",
        b"# The Name of the Wind\n\nKvothe tells his story at the Waystone Inn.",
        title="The  name of the wind",
        author="Patrick Rothfuss",
    )
    clippings = make_clippings(KINDLE_ENTRIES)
    done = await tapp.ingest(h, "My Clippings.txt", clippings, tags="kindle")
    run = done["run"]
    assert run["status"] == "succeeded", run
    assert (run["highlights_added"], run["highlights_skipped"]) == (5, 0)

    found = await _highlights(tapp, h)
    assert len(found) == 5
    assert all("kindle" in item["tags"] for item in found)
    sources = _sources(found)
    linked = {item["summary"] for item in found if sources[item["id"]] == book["item_id"]}
    assert len(linked) == 2
    assert all("The Name of the Wind" in summary for summary in linked)
    assert all(sources[item["id"]] is None for item in found if item["title"] != "The Name of the Wind")
    wind = next(item for item in found if "location 601-603" in (item["summary"] or ""))
    chunks = (await tapp.client.get(f"/api/library/items/{wind['id']}/chunks", headers=h)).json()["chunks"]
    assert chunks[0]["page"] == 40
    assert "Note: Compare the waystone." in chunks[0]["text"]
    assert chunks[0]["content_type"] == "HIGHLIGHT"
    export = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert export["status"] == "ready"
    assert "5 highlight(s)" in export["summary"]

    await tapp.settle()
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "impediment to action"})).json()
    assert body["hits"][0]["item_type"] == "HIGHLIGHT"
    assert body["hits"][0]["title"] == "Meditations"

    # The same file again, then a newer export holding one more highlight: nothing twice.
    again = await tapp.ingest(h, "My Clippings.txt", clippings)
    assert again["duplicate"] is True
    assert (again["run"]["highlights_added"], again["run"]["highlights_skipped"]) == (0, 5)
    newer = make_clippings(
        [
            *KINDLE_ENTRIES,
            clipping(
                "Sapiens (Yuval Noah Harari)",
                "Highlight",
                "on page 80 | Location 1200-1201",
                "Money is the most universal system of mutual trust.",
            ),
        ]
    )
    later = await tapp.ingest(h, "documents/my clippings.txt", newer)
    assert (later["run"]["highlights_added"], later["run"]["highlights_skipped"]) == (1, 5)
    assert len(await _highlights(tapp, h)) == 6


async def test_readwise_export_in_a_batch_is_imported_once(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    book = await tapp.ingest(
        h, "deep.md", b"# Deep Work\n\nRules for focused success.", title="Deep Work", author="Cal Newport"
    )
    archive = zip_of(
        {"exports/readwise.csv": make_readwise_csv(READWISE_ROWS), "notes.md": b"# Notes\n\nA note about harbours."}
    )
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("mine.zip", archive)})
    assert resp.status_code == 202, resp.text
    run = await tapp.wait_run(h, resp.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert (run["highlights_added"], run["highlights_skipped"]) == (3, 0)
    found = await _highlights(tapp, h)
    sources = _sources(found)
    deep = [item for item in found if sources[item["id"]] == book["item_id"]]
    assert len(deep) == 2  # "Deep  work" by "Newport, Cal" is the same book
    first = next(item for item in deep if "page 3" in (item["summary"] or ""))
    assert set(first["tags"]) >= {"focus", "work"}
    chunks = (await tapp.client.get(f"/api/library/items/{first['id']}/chunks", headers=h)).json()["chunks"]
    assert chunks[0]["page"] == 3
    assert "Note: The core definition, worth quoting." in chunks[0]["text"]

    # Uploaded alone this time (another file, the same highlights): all skipped.
    done = await tapp.ingest(h, "readwise-2.csv", make_readwise_csv(list(reversed(READWISE_ROWS))))
    assert (done["run"]["highlights_added"], done["run"]["highlights_skipped"]) == (0, 3)
    assert len(await _highlights(tapp, h)) == 3


async def test_a_csv_that_is_not_a_readwise_export_is_refused(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    resp = await tapp.upload(h, "numbers.csv", b"a,b\n1,2\n")
    assert resp.status_code == 415
    assert "Readwise" in resp.json()["error"]["message"]


def test_cli_imports_kindle_clippings_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TOMEHUB_LOG_LEVEL", "TOMEHUB_LOG_JSON")}
    env["TOMEHUB_DATA_DIR"] = str(tmp_path / "data")
    folder = tmp_path / "kindle"
    folder.mkdir()
    (folder / "My Clippings.txt").write_bytes(make_clippings(KINDLE_ENTRIES))

    def tomehub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tomehub", *args], capture_output=True, text=True, env=env, timeout=300, check=False
        )

    result = tomehub("ingest", str(folder), "--user", "reader")
    assert result.returncode == 0, result.stderr
    assert "5 highlight(s) imported, 0 already in the library." in result.stderr
    result = tomehub("ingest", str(folder / "My Clippings.txt"), "--user", "reader")
    assert result.returncode == 0, result.stderr
    assert "0 highlight(s) imported, 5 already in the library." in result.stderr
    result = tomehub("search", "what stands in the way becomes the way", "--user", "reader")
    assert result.returncode == 0, result.stderr
    assert "Meditations" in result.stdout
