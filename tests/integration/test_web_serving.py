"""The built web app served at / beside the API: cache headers, the history-API fallback, API misses
kept as JSON 404s, no way out of the build folder, and a clear page when nothing is built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Message

from tests.integration.conftest import make_settings
from tomehub.auth.tokens import issue_local_token
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.webapp.serve import is_api_path

INDEX = "<!doctype html><html><head><title>TomeHub</title></head><body><div id=root></div></body></html>"
SCRIPT = "console.log('app')"
SECRET = "outside the build"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "secret.txt").write_text(SECRET)  # beside dist: must never be served
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "app-abc123.js").write_text(SCRIPT)
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return dist


@dataclass
class Web:
    """A client of the app, and the headers of a signed-in user (for /api routes)."""

    app: ASGIApp
    client: httpx.AsyncClient
    auth: dict[str, str]


@asynccontextmanager
async def _serve(data_dir: Path, database_url: str, dist: Path) -> AsyncIterator[Web]:
    settings = make_settings(database_url, data_dir, server={"web_dist_dir": dist})
    app = create_app(settings, local_embedder=HashingEmbedder(dim=64))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.test", timeout=30) as client:
            token = issue_local_token(settings.auth, settings.local_signing_key_path, "web-user")
            yield Web(manager.app, client, {"Authorization": f"Bearer {token}"})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def served(database_url: str, tmp_path_factory: pytest.TempPathFactory, dist: Path) -> AsyncIterator[Web]:
    async with _serve(tmp_path_factory.mktemp("data"), database_url, dist) as web:
        yield web


@pytest.fixture
def web(served: Web) -> httpx.AsyncClient:
    return served.client


@pytest.mark.parametrize("path", ["/", "/library/x", "/reader/123?page=4", "/settings/"])
async def test_pages_get_the_app_uncached(web: httpx.AsyncClient, path: str) -> None:
    resp = await web.get(path)
    assert resp.status_code == 200
    assert resp.text == INDEX
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-cache"


async def test_head_of_a_page(web: httpx.AsyncClient) -> None:
    resp = await web.head("/library")
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["cache-control"] == "no-cache"


async def test_hashed_assets_are_immutable(web: httpx.AsyncClient) -> None:
    resp = await web.get("/assets/app-abc123.js")
    assert resp.status_code == 200
    assert resp.text == SCRIPT
    assert "javascript" in resp.headers["content-type"]
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_a_missing_asset_is_a_404_not_the_app(web: httpx.AsyncClient) -> None:
    resp = await web.get("/assets/missing.js")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


async def test_other_files_have_a_short_cache(web: httpx.AsyncClient) -> None:
    resp = await web.get("/favicon.svg")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "public, max-age=600"
    index = await web.get("/index.html")
    assert index.headers["cache-control"] == "no-cache"


async def test_unknown_api_paths_stay_json_404s(served: Web) -> None:
    web = served.client
    for path in ("/api/nope", "/api/library/nope/deeper"):
        resp = await web.get(path, headers=served.auth)
        assert resp.status_code == 404, path
        assert resp.json()["error"] == {"code": "not_found", "message": f"Nothing at GET {path}."}
    # A wrong method on a real route is still 405, and a POST to a page is no page.
    assert (await web.get("/api/smart-search", headers=served.auth)).status_code == 405
    post = await web.post("/library/x")
    assert post.status_code == 404
    assert post.json()["error"]["code"] == "not_found"


async def test_api_pages_are_not_the_app(web: httpx.AsyncClient) -> None:
    docs = await web.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert (await web.get("/openapi.json")).json()["info"]["title"] == "TomeHub"
    assert (await web.get("/api/health")).status_code == 200
    # /v1 and /mcp need a credential first (401); either way a JSON error, never the app's page.
    for path in ("/v1/nope", "/mcp", "/mcpx/y", "/docs/nope"):
        resp = await web.get(path)
        assert resp.status_code in (401, 404), path
        assert "error" in resp.json()


@pytest.mark.parametrize(
    "raw_path", ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt", "/assets/..%2f..%2fsecret.txt"]
)
async def test_no_way_out_of_the_build(served: Web, raw_path: str) -> None:
    # Straight to the app: an HTTP client would normalise the dots away before sending.
    status, body = await _raw_get(served.app, raw_path)
    assert SECRET.encode() not in body
    assert status == 404


async def _raw_get(app: ASGIApp, raw_path: str) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"tomehub.test")],
        "client": ("127.0.0.1", 50000),
        "server": ("tomehub.test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_api_paths() -> None:
    assert is_api_path("/api") and is_api_path("/api/x") and is_api_path("/v1/chat/completions")
    assert is_api_path("/mcp") and is_api_path("/metrics") and is_api_path("/redoc")
    assert not is_api_path("/apiary") and not is_api_path("/") and not is_api_path("/library/1")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def unbuilt(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Web]:
    async with _serve(tmp_path_factory.mktemp("data"), database_url, tmp_path_factory.mktemp("empty")) as web:
        yield web


async def test_an_unbuilt_app_says_how_to_build_it(unbuilt: Web) -> None:
    web = unbuilt.client
    page = await web.get("/library", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert "make web" in page.text
    as_json = await web.get("/", headers={"Accept": "application/json"})
    assert as_json.status_code == 503
    assert "make web" in as_json.json()["error"]["message"]
    assert (await web.get("/api/health")).status_code == 200
    assert (await web.get("/api/nope", headers=unbuilt.auth)).status_code == 404
