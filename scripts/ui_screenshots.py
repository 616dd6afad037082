"""Screenshots of every page of the web app, for docs/ui/ (run by hand against a running server).

Each page in light and dark, English and Turkish, at 1280x800, plus one phone shot (390x844, light,
English) per page: docs/ui/NAME-THEME-LANG.png and docs/ui/NAME-phone.png. The theme and language are
put where the app keeps them (localStorage ``tomehub.theme`` = light|dark, ``tomehub.lang`` = en|tr)
before it starts. The item and reader pages show the library's first item (or ``--item-id``); the
sign-in page is taken signed out.

    .venv/bin/python scripts/ui_screenshots.py http://127.0.0.1:8000 --username admin --password ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal

from playwright.sync_api import Browser, BrowserContext, FloatRect, ViewportSize, sync_playwright

Theme = Literal["light", "dark"]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
THEMES: tuple[Theme, ...] = ("light", "dark")
LANGS = ("en", "tr")
# Pages that need a signed-out browser.
SIGNED_OUT = {"signin"}
MAX_SHOT_HEIGHT_PX = 2400


def pages(item_id: str | None) -> dict[str, str]:
    """Returns the pages to shoot by name; the item pages only when there is an item to show."""
    found = {
        "home": "/",
        "library": "/library",
        "item": f"/library/{item_id}",
        "add": "/add",
        "search": "/search?q=Dasein",
        "ask": "/ask?q=What%20is%20Dasein%3F",
        "reader": f"/reader/{item_id}",
        "analytics": "/analytics?term=being",
        "status": "/status",
        "settings": "/settings",
        "signin": "/signin",
    }
    if item_id is None:
        print("the library is empty (and no --item-id): skipping the item and reader pages", file=sys.stderr)
        del found["item"], found["reader"]
    return found


def open_context(
    browser: Browser, url: str, *, theme: Theme, lang: str, viewport: ViewportSize, account: tuple[str, str] | None
) -> BrowserContext:
    """Returns a browser context with the app's theme and language preset, signed in when ``account`` is given."""
    context = browser.new_context(
        base_url=url,
        viewport=viewport,
        color_scheme=theme,
        locale="tr-TR" if lang == "tr" else "en-US",
        device_scale_factor=1,
    )
    # Before any of the app's code runs, on every navigation.
    context.add_init_script(
        f"localStorage.setItem('tomehub.theme', '{theme}'); localStorage.setItem('tomehub.lang', '{lang}');"
    )
    if account is not None:
        resp = context.request.post("/api/auth/login", data={"username": account[0], "password": account[1]})
        if resp.status != 200:
            sys.exit(f"sign-in failed: {resp.status} {resp.text()}")
    return context


def first_item(context: BrowserContext) -> str | None:
    resp = context.request.get("/api/library/items?limit=1")
    items = resp.json().get("items", []) if resp.ok else []
    return str(items[0]["id"]) if items else None


def shoot(context: BrowserContext, path: str, out: Path) -> None:
    page = context.new_page()
    try:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        # A whole book in the reader is metres tall: the first screens show what the page is.
        height = min(int(page.evaluate("document.documentElement.scrollHeight")), MAX_SHOT_HEIGHT_PX)
        width = page.viewport_size["width"] if page.viewport_size else 1280
        clip: FloatRect = {"x": 0, "y": 0, "width": width, "height": height}
        page.screenshot(path=str(out), full_page=True, clip=clip, animations="disabled")
    finally:
        page.close()
    print(out.relative_to(REPO) if out.is_relative_to(REPO) else out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="A running TomeHub serving the app, e.g. http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--item-id", help="The item shown on the item and reader pages (default: the first one).")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "ui")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    account = (args.username, args.password)
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        item_id = args.item_id
        if item_id is None:
            probe = open_context(browser, url, theme="light", lang="en", viewport=DESKTOP, account=account)
            item_id = first_item(probe)
            probe.close()
        targets = pages(item_id)
        shots: list[tuple[Theme, str, ViewportSize, str]] = [
            (theme, lang, DESKTOP, f"{{name}}-{theme}-{lang}.png") for theme in THEMES for lang in LANGS
        ]
        shots.append(("light", "en", PHONE, "{name}-phone.png"))
        for theme, lang, viewport, pattern in shots:
            signed_in = open_context(browser, url, theme=theme, lang=lang, viewport=viewport, account=account)
            signed_out = open_context(browser, url, theme=theme, lang=lang, viewport=viewport, account=None)
            for name, path in targets.items():
                shoot(signed_out if name in SIGNED_OUT else signed_in, path, args.out / pattern.format(name=name))
            signed_in.close()
            signed_out.close()
        browser.close()


if __name__ == "__main__":
    main()
