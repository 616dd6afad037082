"""Debian's chromium driven by Playwright, and what every browser test shares: the axe check, the
console watch, and the first account made through the API.

Playwright's own browser download cannot reach its host here, so ``playwright install`` is never run:
the tests launch the system's chromium (``make browser`` installs it on Debian).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Nothing but the page under test talks to the network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_JS = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


def launch_chromium(playwright: Playwright) -> Browser:
    """Returns Debian's chromium, headless, started by Playwright."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (as root).")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def check_a11y(page: Page, *, selector: str | None = None, disabled_rules: tuple[str, ...] = ()) -> None:
    """Runs axe on the page (or the part ``selector`` picks) and fails on any serious or critical violation."""
    if not AXE_JS.exists():
        raise AssertionError(f"{AXE_JS} is missing: `make web` installs the web app's packages (axe-core).")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    options = {"resultTypes": ["violations"], "rules": {rule: {"enabled": False} for rule in disabled_rules}}
    result: dict[str, Any] = page.evaluate(
        "([selector, options]) => window.axe.run(selector ? document.querySelector(selector) : document, options)",
        [selector, options],
    )
    blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        raise AssertionError(f"axe found {len(blocking)} serious problem(s) on {page.url}:\n" + describe(blocking))


def describe(violations: list[dict[str, Any]]) -> str:
    """Returns axe violations as lines a person can act on: rule, impact, help, and each offending element."""
    lines = []
    for v in violations:
        lines.append(f"- [{v.get('impact')}] {v['id']}: {v['help']} ({v.get('helpUrl', '')})")
        for node in v.get("nodes", [])[:5]:
            target = " ".join(str(t) for t in node.get("target", []))
            summary = " ".join(str(node.get("failureSummary", "")).split())
            lines.append(f"    at {target}: {node.get('html', '')[:160]}")
            if summary:
                lines.append(f"       {summary[:300]}")
        if len(v.get("nodes", [])) > 5:
            lines.append(f"    … and {len(v['nodes']) - 5} more element(s)")
    return "\n".join(lines)


@dataclass
class ConsoleWatch:
    """Errors a page logged to its console or threw uncaught, from the moment it was attached."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> ConsoleWatch:
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        return self

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.errors.append(f"console.error: {message.text}" + (f" ({where})" if where else ""))

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error.message}")


@dataclass(frozen=True)
class Account:
    username: str
    password: str


def create_first_account(base_url: str, account: Account) -> dict[str, Any]:
    """Creates the first account (an admin) through ``POST /api/auth/setup``; returns its Session."""
    resp = httpx.post(
        f"{base_url}/api/auth/setup", json={"username": account.username, "password": account.password}, timeout=30
    )
    if resp.status_code != 201:
        raise AssertionError(f"POST /api/auth/setup answered {resp.status_code}: {resp.text}")
    session: dict[str, Any] = resp.json()
    return session


def sign_in(context: BrowserContext, account: Account) -> dict[str, Any]:
    """Signs the browser context in through ``POST /api/auth/login`` (its cookies land in the context)."""
    resp = context.request.post("/api/auth/login", data={"username": account.username, "password": account.password})
    if resp.status != 200:
        raise AssertionError(f"POST /api/auth/login answered {resp.status}: {resp.text()}")
    session: dict[str, Any] = resp.json()
    return session
