"""Rejects request text PostgreSQL cannot store: a NUL character, or a lone UTF-16 surrogate.

One app-wide dependency, run for every route after FastAPI has read the request and before the
route's own parameters are validated. It walks what the request carries as text (path and query
parameters, the JSON body, the form's fields, never an uploaded file's bytes) and answers 422 naming
the first bad field. Being app-wide, a new route or field is covered without anyone remembering to
use a special type. A route that reads its own multipart form as a stream (the uploads of
ingest/router.py) checks its fields and file names with ``unstorable`` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from tomehub.store.text import unstorable

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _strings(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yields every string in a parsed JSON value (keys too) with where it sits."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield (*loc, key), key
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


async def _request_strings(request: Request) -> list[tuple[tuple[str | int, ...], str]]:
    """Returns the text of the request's path, query and (already read) body, each with where it sits."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    found.extend((("path", name), value) for name, value in request.path_params.items() if isinstance(value, str))
    for name, value in request.query_params.multi_items():
        found.append((("query", name), name))
        found.append((("query", name), value))
    route = request.scope.get("route")
    # Only a route that takes a body has had it read (and cached) by FastAPI; others never store it.
    if getattr(route, "body_field", None) is not None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _FORM_TYPES:
            form = await request.form()
            found.extend((("body", name), value) for name, value in form.multi_items() if isinstance(value, str))
        elif await request.body():
            try:
                parsed = await request.json()
            except ValueError:
                parsed = None  # FastAPI has answered a body it could not parse before this runs
            found.extend(_strings(parsed, ("body",)))
    return found


async def reject_unstorable_text(request: Request) -> None:
    """Raises a validation error (422) naming the first field whose text cannot be stored."""
    for loc, text in await _request_strings(request):
        reason = unstorable(text)
        if reason is not None:
            raise RequestValidationError([{"type": "string_unstorable", "loc": loc, "msg": reason, "input": None}])
