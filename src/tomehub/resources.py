"""The shared resources a running app holds (built once in the lifespan, read by dependencies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tomehub.config import Settings
from tomehub.llm.base import Embedder
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database
from tomehub.store.users import UserDirectory


@dataclass
class Resources:
    settings: Settings
    db: Database
    users: UserDirectory
    embedder: Embedder


# The dependencies are async functions, though they do no I/O: FastAPI runs a sync dependency in its
# thread pool, a round trip through a worker thread for every request. The sync forms are for callers
# that are not dependencies.


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def deadline_of(request: Request) -> Deadline:
    """Returns the deadline set when the request arrived (or a fresh one outside the middleware)."""
    deadline = request.scope.get("state", {}).get("deadline")
    if isinstance(deadline, Deadline):
        return deadline
    return Deadline.after(resources_of(request).settings.server.request_deadline_s)


async def get_resources(request: Request) -> Resources:
    return resources_of(request)


async def get_deadline(request: Request) -> Deadline:
    return deadline_of(request)


AppResources = Annotated[Resources, Depends(get_resources)]
RequestDeadline = Annotated[Deadline, Depends(get_deadline)]
