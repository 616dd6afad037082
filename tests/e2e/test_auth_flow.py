"""Accounts in the browser: the first account through the setup form, sign in and out, a wrong password,
and a second user who signs up and sees nothing of the first user's library."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN
from tests.e2e.helpers import PAGE_TIMEOUT_MS, SEARCH_PHRASE, Seeded, console_errors, expect_signed_in
from tests.support.browser import Account, ConsoleWatch

# Signed out, the app asks GET /api/auth/me and gets 401: that failed load is expected.
SIGNED_OUT = (401,)


def test_first_account_through_the_setup_form(page: Page, console: ConsoleWatch, server_url: str) -> None:
    # The first test of the run meets a fresh server; the admin fixture then reuses this account.
    if not httpx.get(f"{server_url}/api/auth/config", timeout=10).json()["needs_setup"]:
        pytest.fail("the first account exists already: this test must run before any test that needs `admin`")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin"), timeout=PAGE_TIMEOUT_MS)
    form = page.get_by_test_id("setup-form")
    expect(form).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(form.get_by_role("heading", name="Create the first account")).to_be_visible()

    # A mismatched confirmation is caught before anything is sent.
    form.get_by_label("User name").fill(ADMIN.username)
    form.get_by_label("Password", exact=True).fill(ADMIN.password)
    form.get_by_label("Confirm password").fill(ADMIN.password + "x")
    form.get_by_role("button", name="Create administrator account").click()
    expect(page.get_by_test_id("signin-error")).to_have_text("The two passwords do not match.")

    form.get_by_label("Confirm password").fill(ADMIN.password)
    form.get_by_role("button", name="Create administrator account").click()
    expect(page).to_have_url(re.compile(r"/library"), timeout=PAGE_TIMEOUT_MS)
    expect_signed_in(page)
    expect(page.get_by_role("heading", level=1, name="Library")).to_be_visible()
    # The first account is the administrator: the Status page is in its navigation.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Status")).to_be_visible()
    assert httpx.get(f"{server_url}/api/auth/config", timeout=10).json()["needs_setup"] is False
    assert console_errors(console, allowed_statuses=SIGNED_OUT) == []


def test_sign_in_and_sign_out(page: Page, console: ConsoleWatch, admin: Account) -> None:
    page.goto("/settings")
    # Signed out, the page sends the visitor to sign in and remembers where they were going.
    expect(page).to_have_url(re.compile(r"/signin\?redirect="), timeout=PAGE_TIMEOUT_MS)
    form = page.get_by_test_id("signin-form")
    expect(form.get_by_role("heading", name="Sign in to TomeHub")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    form.get_by_label("User name").fill(admin.username)
    form.get_by_label("Password").fill(admin.password)
    form.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/settings$"), timeout=PAGE_TIMEOUT_MS)
    expect_signed_in(page)
    expect(page.get_by_test_id("account-name")).to_have_text(admin.username)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("signin-form")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    # The session is gone on the server too: a reload stays signed out.
    page.goto("/library")
    expect(page.get_by_test_id("signin-form")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert console_errors(console, allowed_statuses=SIGNED_OUT) == []


def test_a_wrong_password_shows_an_error(page: Page, console: ConsoleWatch, admin: Account) -> None:
    page.goto("/signin")
    form = page.get_by_test_id("signin-form")
    expect(form).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    form.get_by_label("User name").fill(admin.username)
    form.get_by_label("Password").fill("not-the-password")
    form.get_by_role("button", name="Sign in").click()

    error = page.get_by_test_id("signin-error")
    expect(error).to_have_text("Wrong user name or password.", timeout=PAGE_TIMEOUT_MS)
    expect(error).to_have_attribute("role", "alert")
    expect(page).to_have_url(re.compile(r"/signin"))
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    # The login's own 401 is the failure this test provokes.
    assert console_errors(console, allowed_statuses=SIGNED_OUT) == []


def test_a_second_user_sees_none_of_the_first_users_items(
    page: Page, console: ConsoleWatch, seeded: Seeded, server_url: str
) -> None:
    second = Account(username="second.reader", password="second-password-99")
    page.goto("/signin")
    page.get_by_role("button", name="Create an account").click()
    form = page.get_by_test_id("signup-form")
    expect(form).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    form.get_by_label("User name").fill(second.username)
    form.get_by_label("Password", exact=True).fill(second.password)
    form.get_by_label("Confirm password").fill(second.password)
    form.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(re.compile(r"/library"), timeout=PAGE_TIMEOUT_MS)
    expect_signed_in(page)
    # Not an administrator: no Status page.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Status")).to_have_count(0)
    expect(page.get_by_role("heading", name="Your library is empty")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(page.get_by_test_id("library-item")).to_have_count(0)

    # The first user's item, opened by its address, is not there for this user…
    page.goto(f"/library/{seeded.item_id}")
    expect(page.get_by_text("This item does not exist, or it is not in your library.")).to_be_visible(
        timeout=PAGE_TIMEOUT_MS
    )
    # …and searching for its unique phrase finds nothing.
    page.goto(f"/search?q={SEARCH_PHRASE.replace(' ', '+')}")
    expect(page.get_by_text(f"Nothing found for “{SEARCH_PHRASE}”.")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(page.get_by_test_id("search-hit")).to_have_count(0)
    # The other user's item answers 404 (the page shows it as "not in your library").
    assert console_errors(console, allowed_statuses=(*SIGNED_OUT, 404)) == []
