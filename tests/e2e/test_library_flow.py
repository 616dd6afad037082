"""The library in the browser: files added on the Add page follow their ingestion to the end (a PDF, an
EPUB, a zip dropped on the page, an encrypted PDF that fails in plain words); an item's title edited on
its page; an item deleted."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import (
    INGEST_TIMEOUT_MS,
    PAGE_TIMEOUT_MS,
    ApiSession,
    console_errors,
    encrypted_pdf,
    payload,
    small_epub,
    small_pdf,
)
from tests.support.browser import Account, ConsoleWatch


@pytest.fixture
def api(server_url: str, admin: Account) -> Iterator[ApiSession]:
    session = ApiSession.sign_in(server_url, admin)
    yield session
    session.close()


def _zip(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def _drop(page: Page, name: str, data: bytes, mime: str) -> None:
    """Drops a file on the Add page's drop zone as a person dragging it from their desktop would."""
    page.evaluate(
        """([name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
            const transfer = new DataTransfer()
            transfer.items.add(new File([bytes], name, { type: mime }))
            const zone = document.querySelector('[data-testid="drop-zone"]')
            for (const type of ['dragenter', 'dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }))
            }
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )


def _row(page: Page, filename: str) -> Locator:
    return page.locator(f'[data-testid="upload-row"][data-filename="{filename}"]')


def test_a_pdf_an_epub_and_a_dropped_zip_reach_done(signed_in_page: Page, console: ConsoleWatch) -> None:
    page = signed_in_page
    page.goto("/add")
    expect(page.get_by_test_id("drop-zone")).to_be_visible(timeout=PAGE_TIMEOUT_MS)

    files = [
        payload(
            "tidal-atlas.pdf",
            "application/pdf",
            small_pdf("Tidal Atlas", "Charts of the spring tides along the basalt coast, drawn in 1890."),
        ),
        payload(
            "orchard-year.epub",
            "application/epub+zip",
            small_epub("The Orchard Year", "Pruning the pear trees begins when the frost has gone."),
        ),
    ]
    page.get_by_test_id("file-input").set_input_files(files)
    _drop(
        page,
        "field-notes.zip",
        _zip(
            {
                "notes/moss.md": "# Moss\n\nMoss grows on the shaded side of the granite boulders.",
                "notes/ferns.txt": "Ferns unroll their fronds slowly in the damp spring weeks.",
            }
        ),
        "application/zip",
    )

    names = ["tidal-atlas.pdf", "orchard-year.epub", "field-notes.zip"]
    for name in names:
        expect(_row(page, name)).to_be_visible()
    for name in names:
        expect(_row(page, name)).to_have_attribute("data-state", "done", timeout=INGEST_TIMEOUT_MS)
    expect(page.locator('[data-testid="upload-row"][data-state="done"]')).to_have_count(3)

    # The library lists what was added.
    page.goto("/library")
    listing = page.get_by_test_id("library-list")
    for title in ("Tidal Atlas", "The Orchard Year"):
        expect(listing.get_by_role("link", name=title)).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    assert console_errors(console) == []


def test_an_encrypted_pdf_fails_in_plain_words(signed_in_page: Page, console: ConsoleWatch) -> None:
    page = signed_in_page
    page.goto("/add")
    expect(page.get_by_test_id("drop-zone")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    page.get_by_test_id("file-input").set_input_files([payload("locked.pdf", "application/pdf", encrypted_pdf())])
    row = _row(page, "locked.pdf")
    expect(row).to_have_attribute("data-state", "failed", timeout=INGEST_TIMEOUT_MS)
    # The reason in words a person understands, not an error code.
    expect(row).to_contain_text("The PDF is encrypted (password protected)")
    expect(row).not_to_contain_text("encrypted_document")
    # A refused upload may answer 422 (the failure this test provokes).
    assert console_errors(console, allowed_statuses=(422,)) == []


def test_an_items_title_is_edited_on_its_page(signed_in_page: Page, console: ConsoleWatch, api: ApiSession) -> None:
    page = signed_in_page
    item = api.add_note("Untitled draft note", "A note about the migration of swifts over the valley.")
    page.goto(f"/library/{item['id']}")
    expect(page.get_by_test_id("item-title")).to_have_text("Untitled draft note", timeout=PAGE_TIMEOUT_MS)

    form = page.get_by_test_id("item-edit-form")
    form.get_by_label("Title").fill("Swifts over the valley")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("item-title")).to_have_text("Swifts over the valley", timeout=PAGE_TIMEOUT_MS)
    expect(form.get_by_role("status")).to_have_text("Saved.")

    page.goto("/library")
    listing = page.get_by_test_id("library-list")
    expect(listing.get_by_role("link", name="Swifts over the valley")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(listing.get_by_text("Untitled draft note")).to_have_count(0)
    assert console_errors(console) == []


def test_an_item_is_deleted(signed_in_page: Page, console: ConsoleWatch, api: ApiSession) -> None:
    page = signed_in_page
    kept = api.add_note("A note to keep", "The ferry leaves at seven on weekdays.")
    item = api.add_note("A note to throw away", "Nothing in this note is worth keeping.")
    page.goto(f"/library/{item['id']}")
    expect(page.get_by_test_id("item-title")).to_have_text("A note to throw away", timeout=PAGE_TIMEOUT_MS)

    page.get_by_test_id("item-delete").click()
    dialog = page.get_by_role("dialog", name="Delete “A note to throw away”?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete item").click()

    expect(page).to_have_url(re.compile(r"/library(\?.*)?$"), timeout=PAGE_TIMEOUT_MS)
    listing = page.get_by_test_id("library-list")
    # The list has loaded (the other note is there) and the deleted one is not in it.
    expect(listing.locator(f'[data-item-id="{kept["id"]}"]')).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(listing.locator(f'[data-item-id="{item["id"]}"]')).to_have_count(0)
    expect(page.get_by_text("A note to throw away")).to_have_count(0)
    assert api.client.get(f"/api/library/items/{item['id']}").status_code == 404
    assert console_errors(console) == []
