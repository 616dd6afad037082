"""The ``CurrentUser`` dependency: the user id always comes from the verified token, never the body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tomehub.auth.tokens import Principal
from tomehub.errors import Unauthorized
from tomehub.resources import get_deadline, get_resources


@dataclass(frozen=True)
class User:
    id: int
    uid: str


async def current_user(request: Request) -> User:
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise Unauthorized("This route needs a bearer token.")
    users = get_resources(request).users
    user_id = await users.user_id(principal.uid, deadline=get_deadline(request))
    return User(id=user_id, uid=principal.uid)


CurrentUser = Annotated[User, Depends(current_user)]
