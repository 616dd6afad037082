"""Serves the built web app at ``/`` beside the API.

Nothing is routed for it: when no API route matches, the app's 404 handler serves a file of the
build, or ``index.html`` for any other page (the app routes with the history API, so a reload of
``/library/abc`` must return the app). API-like paths keep their JSON 404 in the app's error shape,
and API routes always win because they are tried first.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tomehub.errors import NotFound

PACKAGED_DIST = Path(__file__).resolve().parent / "dist"

# Vite puts a content hash in every name under assets/: a changed file is a new URL, so browsers
# may keep these forever. Other files of the build (favicon, robots.txt) keep their names.
ASSET_CACHE = "public, max-age=31536000, immutable"
FILE_CACHE = "public, max-age=600"
# index.html names the current assets; a browser must revalidate it to pick up a new build.
INDEX_CACHE = "no-cache"

# Paths that belong to the API (or its docs): never answered with the app.
_API_TREES = ("/api", "/v1", "/docs", "/redoc")
_API_PATHS = frozenset({"/openapi.json", "/metrics"})


def is_api_path(path: str) -> bool:
    """Returns whether ``path`` is the API's (so a miss is a JSON 404, never the app)."""
    return (
        path in _API_PATHS
        or path.startswith("/mcp")
        or any(path == tree or path.startswith(tree + "/") for tree in _API_TREES)
    )


class WebAppFiles(StaticFiles):
    """The build's files with their cache headers; ``index.html`` for any path that is not a file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        # get_path() has collapsed every "a/.." already: a leading ".." can only climb out of dist.
        if path == os.pardir or path.startswith(os.pardir + os.sep):
            raise HTTPException(status_code=404)
        in_assets = path == "assets" or path.startswith("assets" + os.sep)
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            # A missing hashed asset is a stale page asking for an old build: a real 404, or the
            # browser would run index.html as a script.
            if exc.status_code != 404 or in_assets:
                raise
            response = await super().get_response("index.html", scope)
            response.headers["Cache-Control"] = INDEX_CACHE
            return response
        if in_assets:
            response.headers["Cache-Control"] = ASSET_CACHE
        else:
            response.headers["Cache-Control"] = INDEX_CACHE if path == "index.html" else FILE_CACHE
        return response


def mount_web_app(app: FastAPI, dist_dir: Path | None = None) -> None:
    """Serves the web app built into ``dist_dir`` (default: the packaged build) for every path no API route takes."""
    dist = (dist_dir or PACKAGED_DIST).resolve()
    files = WebAppFiles(directory=dist, check_dir=False)

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if request.method not in ("GET", "HEAD") or is_api_path(path):
            return _json_not_found(request, exc)
        if not (dist / "index.html").is_file():
            return _not_built(request)
        try:
            return await files.get_response(files.get_path(request.scope), request.scope)
        except HTTPException as missing:
            return _json_not_found(request, missing)

    app.add_exception_handler(404, not_found)


def _json_not_found(request: Request, exc: Exception) -> JSONResponse:
    detail = getattr(exc, "detail", None)
    headers = getattr(exc, "headers", None)
    if not isinstance(detail, str) or detail == "Not Found":
        detail = f"Nothing at {request.method} {request.url.path}."
    return JSONResponse(
        {"error": {"code": NotFound.code, "message": detail}}, status_code=NotFound.status_code, headers=headers
    )


_NOT_BUILT = "The web app is not built: run `make web` (the API works without it; see /docs)."


def _not_built(request: Request) -> Response:
    # 503: the server is fine, the app it would serve is missing; a retry after a build succeeds.
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return JSONResponse({"error": {"code": "web_app_not_built", "message": _NOT_BUILT}}, status_code=503)
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>TomeHub: web app not built</title></head>"
        f"<body><h1>TomeHub</h1><p>{html.escape(_NOT_BUILT)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=503, headers={"Cache-Control": "no-store"})
