"""What the e2e flows share: an API client signed in as one account (to seed a library quickly), the
documents the flows upload, and the console check that tolerates only the failures a test provoked."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from tests.support.browser import Account, ConsoleWatch
from tests.support.documents import make_epub, make_pdf

# Ingestion through the fake embedder takes a few seconds; on a loaded 2-core box allow a minute.
INGEST_TIMEOUT_MS = 60_000
# A page's first data (the lazy route chunk, then the API) on a loaded box.
PAGE_TIMEOUT_MS = 15_000

# The search document: three pages of about a chunk each (chunk_tokens), page 2 alone holding the
# phrase the search flow looks for, so its chunk is cited by page 2 and the others are not.
SEARCH_PHRASE = "quokka lanterns"
SEARCH_PDF_TITLE = "Harbour Lights Almanac"
_NOUNS = ["boats", "nets", "gulls", "stalls", "ropes", "sails", "barrels", "crates", "ledgers", "tides"]
_VERBS = ["rest", "wait", "gather", "drift", "settle", "linger", "sway", "pile up", "dry", "turn"]
_PLACES = ["eastern wall", "market square", "old customs house", "salt sheds", "chapel steps", "ferry ramp"]


def _filler(seed: int, sentences: int) -> str:
    """Returns plain harbour prose, different for each seed, without the searched words."""
    out = []
    for n in range(sentences):
        k = seed * 31 + n * 7
        noun, verb, place = _NOUNS[k % 10], _VERBS[(k // 10) % 10], _PLACES[k % 6]
        out.append(f"In season {seed}.{n} the {noun} {verb} by the {place} while the harbour master counts them.")
    # Paragraphs of six sentences: the chunker cuts between paragraphs.
    return "\n\n".join(" ".join(out[i : i + 6]) for i in range(0, len(out), 6))


SEARCH_PDF_PAGES = [
    _filler(1, 24),
    _filler(2, 12)
    + "\n\nOn the northern pier the keepers hang quokka lanterns that glow amber through the longest winter "
    "fog, so that every returning sailor can find the narrow channel between the two reefs. "
    "The lanterns are refilled with whale oil twice each week by the youngest apprentice.\n\n" + _filler(3, 12),
    _filler(4, 24),
]
# Asked of the library, this question finds the lantern passage (the fake answer quotes and cites it).
ASK_QUESTION = "Why do the keepers hang quokka lanterns on the northern pier?"


@functools.cache
def search_pdf() -> bytes:
    """Returns the search document: three pages, the unique phrase on page 2 (the same bytes each call, so
    a second upload of it is a duplicate: fpdf stamps the time it writes a file)."""
    return make_pdf(SEARCH_PDF_PAGES, title=SEARCH_PDF_TITLE)


def small_pdf(title: str, text: str) -> bytes:
    return make_pdf([text], title=title)


def small_epub(title: str, text: str) -> bytes:
    chapters = [("Chapter One", text), ("Chapter Two", f"More of {title}: the sequel to the first chapter.")]
    return make_epub(chapters, title=title)


def encrypted_pdf() -> bytes:
    return make_pdf(["A secret page nobody may read without the password."], title="Locked", password="s3cret-pw")


def payload(name: str, mime: str, data: bytes) -> FilePayload:
    """Returns a file as a file input receives it from the user's disk."""
    return FilePayload(name=name, mimeType=mime, buffer=data)


@dataclass
class ApiSession:
    """An httpx client holding one account's session cookie and CSRF token."""

    client: httpx.Client
    csrf: str

    @classmethod
    def sign_in(cls, base_url: str, account: Account) -> ApiSession:
        client = httpx.Client(base_url=base_url, timeout=30)
        resp = client.post("/api/auth/login", json={"username": account.username, "password": account.password})
        if resp.status_code != 200:
            raise AssertionError(f"POST /api/auth/login answered {resp.status_code}: {resp.text}")
        return cls(client, resp.json()["csrf_token"])

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, headers={"X-CSRF-Token": self.csrf}, **kwargs)

    def ingest(self, filename: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Uploads a file; returns its item id (an earlier identical upload's, for a duplicate)."""
        resp = self.post("/api/ingest", files={"file": (filename, data, content_type)})
        if resp.status_code != 202:
            raise AssertionError(f"POST /api/ingest answered {resp.status_code}: {resp.text}")
        item_id: str = resp.json()["item_id"]
        return item_id

    def add_note(self, title: str, text: str) -> dict[str, Any]:
        resp = self.post("/api/add-item", json={"item_type": "PERSONAL_NOTE", "title": title, "text": text})
        if resp.status_code != 201:
            raise AssertionError(f"POST /api/add-item answered {resp.status_code}: {resp.text}")
        item: dict[str, Any] = resp.json()
        return item

    def wait_ready(self, item_id: str, timeout_s: float = INGEST_TIMEOUT_MS / 1000) -> dict[str, Any]:
        """Returns the item once ingestion made it ready; fails on failed or on timeout."""
        deadline = time.monotonic() + timeout_s
        item: dict[str, Any] = {}
        while time.monotonic() < deadline:
            item = self.client.get(f"/api/library/items/{item_id}").json()
            if item.get("status") == "ready":
                return item
            if item.get("status") == "failed":
                raise AssertionError(f"ingestion of {item_id} failed: {item.get('status_detail')}")
            time.sleep(0.25)
        raise AssertionError(f"item {item_id} was not ready after {timeout_s:.0f} s: {item}")

    def chunks(self, item_id: str) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = self.client.get(f"/api/library/items/{item_id}/chunks").json()["chunks"]
        return chunks

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class Seeded:
    """The admin's library as the search, ask, reader and a11y flows find it."""

    item_id: str
    page2_chunk_id: int


# Chromium logs every non-2xx fetch as a console error ("Failed to load resource: … status of 401"):
# the expected ones (signed out, a wrong password, a provoked 503) are left out by status.
_NETWORK_ERROR = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


def console_errors(console: ConsoleWatch, *, allowed_statuses: tuple[int, ...] = ()) -> list[str]:
    """Returns the page's console errors, but for failed loads answered with one of ``allowed_statuses``."""
    errors = []
    for error in console.errors:
        match = _NETWORK_ERROR.search(error)
        if match and int(match.group(1)) in allowed_statuses:
            continue
        errors.append(error)
    return errors


def use_theme(context: BrowserContext, theme: str) -> None:
    """Every page the context opens starts in ``theme`` (as if the user had picked it before)."""
    context.add_init_script(f"try {{ localStorage.setItem('tomehub.theme', '{theme}') }} catch (e) {{}}")


def expect_signed_in(page: Page) -> None:
    """The app shell is up: the main navigation and the sign-out button."""
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
