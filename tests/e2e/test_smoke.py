"""The built app, served by a real `tomehub serve`, opens in a browser: no console errors, no serious
accessibility problems."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.browser import ConsoleWatch, check_a11y


def test_the_app_opens(signed_in_page: Page, console: ConsoleWatch) -> None:
    page = signed_in_page
    page.goto("/")
    expect(page).to_have_title(re.compile("TomeHub"))
    expect(page.locator("#root")).not_to_be_empty()
    page.wait_for_load_state("networkidle")
    assert console.errors == []
    check_a11y(page)
