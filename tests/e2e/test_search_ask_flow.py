"""Search and Ask in the browser: a phrase found with its page and marked; an answer that streams in and
whose citation opens the cited passage; Stop ending a stream; a busy server (503 + Retry-After) shown
and retried."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import Server
from tests.e2e.helpers import ASK_QUESTION, PAGE_TIMEOUT_MS, SEARCH_PHRASE, Seeded, console_errors
from tests.support.browser import ConsoleWatch

# A streamed answer, start to done (retrieval, the slowed writer, the judge) on a loaded box.
ANSWER_TIMEOUT_MS = 45_000
ANSWER_TEXT = '[data-testid="answer-text"]'
ANSWER_SECTION = "section[data-phase]"


@pytest.fixture
def slow_chat(tomehub_server: Server) -> Iterator[Callable[[float], None]]:
    """Slows the fake provider's streamed tokens (ms each) for one test; the faults are put back after."""
    control = f"{tomehub_server.fake_llm_url}/control/faults"
    before = httpx.get(control, timeout=10).json()["chat"]

    def set_token_delay(ms: float) -> None:
        httpx.put(control, json={"chat": {"token_delay_ms": ms}}, timeout=10).raise_for_status()

    yield set_token_delay
    httpx.put(control, json={"chat": before}, timeout=10).raise_for_status()


def _answer_length(page: Page) -> int:
    return int(page.evaluate(f"() => document.querySelector('{ANSWER_TEXT}')?.textContent.length ?? 0"))


def _wait_growth_while_streaming(page: Page, longer_than: int) -> int:
    """Waits until the answer, still streaming, is longer than ``longer_than``; returns its length."""
    page.wait_for_function(
        """([text, section, n]) => {
            const phase = document.querySelector(section)?.dataset.phase
            return phase === 'streaming' && (document.querySelector(text)?.textContent.length ?? 0) > n
        }""",
        arg=[ANSWER_TEXT, ANSWER_SECTION, longer_than],
        timeout=ANSWER_TIMEOUT_MS,
    )
    return _answer_length(page)


def _ask(page: Page, question: str) -> None:
    page.goto("/ask")
    page.get_by_test_id("ask-input").fill(question)
    page.get_by_test_id("ask-submit").click()


def test_search_finds_a_phrase_with_its_page(signed_in_page: Page, console: ConsoleWatch, seeded: Seeded) -> None:
    page = signed_in_page
    page.goto("/search")
    page.get_by_test_id("search-input").fill(SEARCH_PHRASE)

    hit = page.locator(f'[data-testid="search-hit"][data-chunk-id="{seeded.page2_chunk_id}"]')
    expect(hit).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(hit).to_contain_text("Harbour Lights Almanac")
    expect(hit).to_contain_text("p. 2")
    marks = hit.locator("mark")
    expect(marks.first).to_be_visible()
    marked = {m.lower() for m in marks.all_inner_texts()}
    assert {"quokka", "lanterns"} <= marked, f"the query's words are not all marked: {marked}"
    # The query sits in the address, so the results can be shared and come back on reload.
    assert "q=quokka" in page.url
    assert console_errors(console) == []


def test_ask_streams_an_answer_whose_citation_opens_the_passage(
    signed_in_page: Page, console: ConsoleWatch, seeded: Seeded, slow_chat: Callable[[float], None]
) -> None:
    page = signed_in_page
    slow_chat(120)
    _ask(page, ASK_QUESTION)

    # The text grows while it streams: three samples, each longer than the one before.
    first = _wait_growth_while_streaming(page, 0)
    second = _wait_growth_while_streaming(page, first)
    third = _wait_growth_while_streaming(page, second)
    assert 0 < first < second < third
    expect(page.get_by_test_id("ask-stop")).to_be_visible()

    expect(page.locator(ANSWER_SECTION)).to_have_attribute("data-phase", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_test_id("ask-stop")).to_have_count(0)
    # The fake writer quotes the passages it was given and cites each: the answer is from the document.
    expect(page.locator(ANSWER_TEXT)).to_contain_text("harbour")

    chip = page.get_by_test_id("citation-chip").first
    expect(chip).to_be_visible()
    chunk_id = int(chip.get_attribute("data-chunk-id") or "0")
    chip.click()
    panel = page.get_by_test_id("citation-panel")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-chunk-id", str(chunk_id))
    cited: dict[str, Any] = page.request.get(f"/api/content?ids={chunk_id}").json()["chunks"][0]
    expect(panel).to_contain_text(cited["item_title"])
    expect(panel.locator("blockquote")).to_contain_text(" ".join(cited["text"].split()[:12]))
    assert console_errors(console) == []


def test_stop_ends_a_stream(
    signed_in_page: Page,
    console: ConsoleWatch,
    seeded: Seeded,
    tomehub_server: Server,
    slow_chat: Callable[[float], None],
) -> None:
    page = signed_in_page
    slow_chat(400)
    stats = f"{tomehub_server.fake_llm_url}/control/stats"
    cut_before = httpx.get(stats, timeout=10).json()["streams_cut"]
    # Another question than the other test's: a remembered answer would not stream slowly.
    _ask(page, "What do the apprentices refill twice each week on the northern pier?")

    _wait_growth_while_streaming(page, 0)
    page.get_by_test_id("ask-stop").click()
    expect(page.get_by_test_id("ask-stop")).to_have_count(0)
    expect(page.get_by_test_id("answer-stopped")).to_have_text("Stopped. The answer above is incomplete.")
    expect(page.locator(ANSWER_SECTION)).to_have_attribute("data-phase", "stopped")
    stopped_at = page.locator(ANSWER_TEXT).text_content()

    # The server cancels the generation: the fake provider sees its stream cut…
    deadline = time.monotonic() + 15
    while httpx.get(stats, timeout=10).json()["streams_cut"] <= cut_before:
        assert time.monotonic() < deadline, "the provider's stream was not cut after Stop"
        time.sleep(0.1)  # polling the provider's counters, not waiting on the page
    # …and no token written before the cut reaches the page any more.
    expect(page.locator(ANSWER_TEXT)).to_have_text(stopped_at or "")
    expect(page.locator(ANSWER_SECTION)).to_have_attribute("data-phase", "stopped")
    assert console_errors(console) == []


def test_a_busy_server_is_shown_and_retried(signed_in_page: Page, console: ConsoleWatch, seeded: Seeded) -> None:
    page = signed_in_page
    calls: list[str] = []

    def busy_once(route: Route) -> None:
        calls.append(route.request.method)
        if len(calls) == 1:
            route.fulfill(
                status=503,
                headers={"Retry-After": "2", "Content-Type": "application/json"},
                body=json.dumps({"error": {"code": "busy", "message": "The server is busy; try again shortly."}}),
            )
        else:
            route.continue_()

    page.route("**/api/smart-search", busy_once)
    page.goto("/search")
    page.get_by_test_id("search-input").fill("whale oil")

    notice = page.get_by_test_id("busy-notice")
    expect(notice).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(notice).to_contain_text("retrying")
    # After the Retry-After the search goes again by itself and the results arrive.
    expect(page.get_by_test_id("search-hit").first).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(notice).to_have_count(0)
    assert len(calls) >= 2
    # The provoked 503 is the one failed load allowed.
    assert console_errors(console, allowed_statuses=(503,)) == []
