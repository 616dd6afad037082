"""The ``CurrentUser`` dependency: the user id always comes from the verified credential, never the body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tomehub.auth.accounts import AccountDirectory
from tomehub.auth.keys import KeyUse
from tomehub.auth.login_limits import LoginLimiter
from tomehub.auth.passwords import Passwords
from tomehub.auth.tokens import Principal
from tomehub.config import Settings
from tomehub.errors import Unauthorized
from tomehub.resources import deadline_of, resources_of


@dataclass(frozen=True)
class User:
    id: int
    uid: str
    is_admin: bool = False
    username: str | None = None


@dataclass(frozen=True)
class AuthServices:
    """What the auth routes and the middleware keep for the life of the app (``app.state.auth``)."""

    passwords: Passwords
    accounts: AccountDirectory
    key_use: KeyUse
    # None when rate limits are off (TOMEHUB_RATE_LIMITS__ENABLED=false).
    login_limiter: LoginLimiter | None


def build_auth_services(settings: Settings) -> AuthServices:
    """Returns the auth services configured by ``settings``."""
    auth = settings.auth
    limiter = None
    if settings.rate_limits.enabled:
        limiter = LoginLimiter(
            per_account=auth.login_limit_per_account, per_ip=auth.login_limit_per_ip, redis_url=settings.redis_url
        )
    return AuthServices(
        passwords=Passwords(
            min_length=auth.password_min_length,
            max_length=auth.password_max_length,
            concurrency=auth.password_hash_concurrency,
        ),
        accounts=AccountDirectory(ttl_s=auth.account_cache_s),
        key_use=KeyUse(interval_s=auth.key_touch_interval_s),
        login_limiter=limiter,
    )


async def get_auth_services(request: Request) -> AuthServices:
    services: AuthServices = request.app.state.auth
    return services


def principal_of(request: Request) -> Principal:
    """Returns the principal the auth middleware verified for this request."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise Unauthorized("This route needs a bearer token.")
    return principal


async def get_principal(request: Request) -> Principal:
    # Async, as every dependency of a hot route: see tomehub/resources.py.
    return principal_of(request)


async def current_user(request: Request) -> User:
    principal = principal_of(request)
    resources = resources_of(request)
    deadline = deadline_of(request)
    user_id = await resources.users.user_id(principal.uid, deadline=deadline)
    services: AuthServices | None = getattr(request.app.state, "auth", None)
    if services is None:
        return User(id=user_id, uid=principal.uid)
    account = await services.accounts.get(user_id, db=resources.db, deadline=deadline)
    if account is None:
        # A user known only by tokens (`tomehub token create`, Firebase): no name, not an admin.
        return User(id=user_id, uid=principal.uid)
    if account.disabled:
        raise Unauthorized("This account is disabled.")
    return User(id=user_id, uid=principal.uid, is_admin=account.is_admin, username=account.username)


CurrentUser = Annotated[User, Depends(current_user)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
Auth = Annotated[AuthServices, Depends(get_auth_services)]
