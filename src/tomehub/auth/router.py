"""HTTP routes of authentication: the sign-in page's config, local accounts, sessions, API keys."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from tomehub.auth import accounts, keys, sessions
from tomehub.auth.accounts import Account, normalize_username
from tomehub.auth.deps import Auth, AuthServices, CurrentPrincipal, CurrentUser
from tomehub.auth.schemas import (
    ApiKeyList,
    ApiKeyOut,
    AuthConfigOut,
    Credentials,
    FirebaseConfig,
    KeyIn,
    NewApiKeyOut,
    PasswordChange,
    SessionOut,
    SessionUser,
    error_responses,
)
from tomehub.auth.tokens import Principal
from tomehub.config import Settings
from tomehub.errors import BadInput, Forbidden, NotFound, RateLimited, Unauthorized
from tomehub.resources import AppResources, RequestDeadline, Resources

router = APIRouter(prefix="/api/auth", tags=["auth"])

_WRONG_CREDENTIALS = "Wrong user name or password."
_CSRF_403 = "A cookie-authenticated write without the session's X-CSRF-Token, or from another site's Origin."
_FIREBASE_404 = "This deployment signs in with Firebase: there are no local accounts."


def _local_only(settings: Settings) -> None:
    if settings.auth.mode != "local":
        raise NotFound("This deployment signs in with Firebase; use the Firebase sign-in instead.")


def _session_body(*, uid: str, account: Account | None, csrf: str | None) -> SessionOut:
    return SessionOut(
        user=SessionUser(
            uid=uid,
            username=account.username if account else None,
            is_admin=bool(account and account.is_admin),
        ),
        csrf_token=csrf,
    )


async def _open_session(
    request: Request, response: Response, *, res: Resources, account: Account, deadline: RequestDeadline
) -> SessionOut:
    """Starts a session for ``account``, sets its cookie and returns the Session body."""
    issued = await sessions.start_session(
        db=res.db,
        auth=res.settings.auth,
        key_path=res.settings.local_signing_key_path,
        user_id=account.user_id,
        uid=account.username,
        user_agent=request.headers.get("user-agent"),
        deadline=deadline,
    )
    response.set_cookie(
        sessions.SESSION_COOKIE,
        issued.token,
        max_age=issued.max_age_s,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return _session_body(uid=account.username, account=account, csrf=issued.csrf)


async def _new_account(
    body: Credentials, *, res: Resources, auth: AuthServices, deadline: RequestDeadline, first: bool
) -> Account:
    username = normalize_username(body.username)
    auth.passwords.check_new(body.password)
    password_hash = await auth.passwords.hash(body.password)
    if first:
        return await accounts.create_first_account(
            db=res.db, username=username, password_hash=password_hash, deadline=deadline
        )
    # A stranger signing up must not take over the library of an existing (token-only) user.
    return await accounts.create_account(
        db=res.db, username=username, password_hash=password_hash, adopt_existing_user=False, deadline=deadline
    )


@router.get("/config", response_model=AuthConfigOut, responses=error_responses({}, public=True))
async def auth_config(res: AppResources, deadline: RequestDeadline) -> AuthConfigOut:
    """How to sign in: local accounts (and whether the first one is still to be created) or Firebase."""
    cfg = res.settings.auth
    if cfg.mode == "firebase":
        firebase = FirebaseConfig(
            api_key=cfg.firebase_api_key, auth_domain=cfg.firebase_auth_domain, project_id=cfg.project_id
        )
        return AuthConfigOut(mode="firebase", signup_open=False, needs_setup=False, firebase=firebase)
    needs_setup = not await accounts.any_account(db=res.db, deadline=deadline)
    return AuthConfigOut(mode="local", signup_open=cfg.signup_open, needs_setup=needs_setup, firebase=None)


@router.post(
    "/setup",
    status_code=201,
    response_model=SessionOut,
    responses=error_responses(
        {
            403: "The request's Origin is another site.",
            404: _FIREBASE_404,
            409: "An account exists already: TomeHub is set up.",
            422: "A user name or password that breaks the rules.",
        },
        public=True,
    ),
)
async def setup(
    body: Credentials, request: Request, response: Response, res: AppResources, auth: Auth, deadline: RequestDeadline
) -> SessionOut:
    """Creates the first account, an admin, and signs it in."""
    _local_only(res.settings)
    account = await _new_account(body, res=res, auth=auth, deadline=deadline, first=True)
    return await _open_session(request, response, res=res, account=account, deadline=deadline)


@router.post(
    "/signup",
    status_code=201,
    response_model=SessionOut,
    responses=error_responses(
        {
            403: "Sign-ups are closed (TOMEHUB_AUTH__SIGNUP_OPEN), or the request's Origin is another site.",
            404: _FIREBASE_404,
            409: "The user name is taken.",
            422: "A user name or password that breaks the rules.",
        },
        public=True,
    ),
)
async def signup(
    body: Credentials, request: Request, response: Response, res: AppResources, auth: Auth, deadline: RequestDeadline
) -> SessionOut:
    """Creates an account (when sign-ups are open) and signs it in."""
    _local_only(res.settings)
    if not res.settings.auth.signup_open:
        raise Forbidden("Sign-ups are closed; ask the administrator for an account.")
    account = await _new_account(body, res=res, auth=auth, deadline=deadline, first=False)
    return await _open_session(request, response, res=res, account=account, deadline=deadline)


@router.post(
    "/login",
    response_model=SessionOut,
    responses=error_responses(
        {
            401: _WRONG_CREDENTIALS + " (also for an unknown user or a disabled account)",
            403: "The request's Origin is another site.",
            404: _FIREBASE_404,
            422: "A body without a user name or password.",
            429: "Too many failed sign-ins for this account or from this address; retry after Retry-After.",
        },
        public=True,
    ),
)
async def login(
    body: Credentials, request: Request, response: Response, res: AppResources, auth: Auth, deadline: RequestDeadline
) -> SessionOut:
    """Signs in with a user name and password; sets the session cookie."""
    _local_only(res.settings)
    username = body.username.strip().lower()
    ip = request.client.host if request.client else None
    limiter = auth.login_limiter
    if limiter is not None:
        retry_after = await limiter.retry_after(username=username, ip=ip)
        if retry_after is not None:
            raise RateLimited(
                f"Too many failed sign-ins; retry in {math.ceil(retry_after)} s.", retry_after_s=retry_after
            )
    found = await accounts.find_for_sign_in(db=res.db, username=username, deadline=deadline)
    matches = await auth.passwords.verify(found[1] if found else None, body.password)
    if found is None or not matches or found[0].disabled:
        if limiter is not None:
            await limiter.failed(username=username, ip=ip)
        raise Unauthorized(_WRONG_CREDENTIALS)
    account, password_hash = found
    if auth.passwords.needs_rehash(password_hash):
        rehashed = await auth.passwords.hash(body.password)
        await accounts.set_password_hash(
            db=res.db, user_id=account.user_id, password_hash=rehashed, changed=False, deadline=deadline
        )
    return await _open_session(request, response, res=res, account=account, deadline=deadline)


@router.post("/logout", status_code=204, responses=error_responses({403: _CSRF_403}))
async def logout(
    principal: CurrentPrincipal, request: Request, res: AppResources, deadline: RequestDeadline
) -> Response:
    """Ends this session and clears its cookie (a bearer token or API key has no session to end)."""
    if principal.session_id is not None:
        await sessions.end_session(db=res.db, session_id=principal.session_id, deadline=deadline)
    response = Response(status_code=204)
    response.delete_cookie(
        sessions.SESSION_COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response


@router.get("/me", response_model=SessionOut, responses=error_responses({}))
async def me(
    user: CurrentUser, principal: CurrentPrincipal, res: AppResources, auth: Auth, deadline: RequestDeadline
) -> SessionOut:
    """Who is signed in, and (for a browser session) the CSRF token its writes must send."""
    account = await auth.accounts.get(user.id, db=res.db, deadline=deadline)
    return _session_body(uid=user.uid, account=account, csrf=principal.csrf)


@router.post(
    "/password",
    status_code=204,
    responses=error_responses(
        {
            401: "The current password is wrong (or no valid credential).",
            403: _CSRF_403,
            404: "The user has no local account (it signs in with a token).",
            422: "The new password is too short or too long.",
        }
    ),
)
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    principal: CurrentPrincipal,
    res: AppResources,
    auth: Auth,
    deadline: RequestDeadline,
) -> Response:
    """Changes the password; every other session of the account ends."""
    current_hash = await accounts.password_hash_of(db=res.db, user_id=user.id, deadline=deadline)
    if not await auth.passwords.verify(current_hash, body.current_password):
        raise Unauthorized("The current password is wrong.")
    auth.passwords.check_new(body.new_password)
    new_hash = await auth.passwords.hash(body.new_password)
    await accounts.set_password_hash(db=res.db, user_id=user.id, password_hash=new_hash, deadline=deadline)
    await sessions.end_other_sessions(db=res.db, user_id=user.id, keep=principal.session_id, deadline=deadline)
    return Response(status_code=204)


@router.get("/keys", response_model=ApiKeyList, responses=error_responses({}))
async def list_keys(user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> ApiKeyList:
    """The caller's live API keys, newest first (never their secrets)."""
    found = await keys.list_keys(db=res.db, user_id=user.id, deadline=deadline)
    return ApiKeyList(keys=[ApiKeyOut.of(k) for k in found])


@router.post(
    "/keys",
    status_code=201,
    response_model=NewApiKeyOut,
    responses=error_responses(
        {
            403: _CSRF_403 + " Or the request was made with an API key (keys do not mint keys).",
            422: "A name that is empty or longer than 100 characters.",
        }
    ),
)
async def create_key(
    body: KeyIn, user: CurrentUser, principal: CurrentPrincipal, res: AppResources, deadline: RequestDeadline
) -> NewApiKeyOut:
    """Creates a personal API key; its secret is in this answer only."""
    _refuse_key_principal(principal)
    name = body.name.strip()
    if not name:
        raise BadInput("Give the key a name.")
    key, secret = await keys.create_key(db=res.db, user_id=user.id, name=name, deadline=deadline)
    return NewApiKeyOut(key=ApiKeyOut.of(key), secret=secret)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    responses=error_responses(
        {403: _CSRF_403, 404: "No such key, or not yours.", 422: "A key id that is not a number."}
    ),
)
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2**63 - 1)], user: CurrentUser, res: AppResources, deadline: RequestDeadline
) -> Response:
    """Revokes an API key at once (revoking a revoked key is a no-op)."""
    await keys.revoke_key(db=res.db, key_id=key_id, user_id=user.id, deadline=deadline)
    return Response(status_code=204)


def _refuse_key_principal(principal: Principal) -> None:
    # A leaked key must not be able to outlive its revocation by minting successors.
    if principal.via == "api_key":
        raise Forbidden("API keys cannot create API keys; sign in (or use a token) to create one.")
