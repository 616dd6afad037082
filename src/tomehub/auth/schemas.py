"""Request and response bodies of the auth routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tomehub.auth.keys import ApiKey


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. unauthorized, forbidden.")
    message: str = Field(description="What went wrong, in words a person can act on.")


class ErrorOut(BaseModel):
    """The one error shape of every route."""

    error: ErrorDetail


def error_responses(statuses: dict[int, str], *, public: bool = False) -> dict[int | str, dict[str, Any]]:
    """Returns the OpenAPI ``responses`` for these statuses (status → when) plus those every route
    can answer (and, unless ``public``, those of a signed-in route)."""
    every = {
        503: "Overloaded or the database is unreachable; retry after the Retry-After header's seconds.",
        504: "The request ran past its deadline.",
        429: "Too many requests; retry after the Retry-After header's seconds.",
    }
    if not public:
        every[401] = "No credential, or one that is not valid (or a session that has ended)."
    merged = {**every, **statuses}
    return {status: {"model": ErrorOut, "description": merged[status]} for status in sorted(merged)}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(_In):
    # Length rules (name 3–64 of a-z 0-9 . _ -, password min length) are checked by the routes, so a
    # sign-in with a malformed name answers like a wrong one.
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=4096)


class PasswordChange(_In):
    current_password: str = Field(min_length=1, max_length=4096)
    new_password: str = Field(min_length=1, max_length=4096)


class KeyIn(_In):
    name: str = Field(min_length=1, max_length=100, description="A label to recognise the key by.")


class SessionUser(BaseModel):
    uid: str
    username: str | None
    is_admin: bool


class SessionOut(BaseModel):
    user: SessionUser
    # Repeat it in X-CSRF-Token on every cookie-authenticated write; null for bearer credentials.
    csrf_token: str | None


class FirebaseConfig(BaseModel):
    api_key: str
    auth_domain: str
    project_id: str


class AuthConfigOut(BaseModel):
    mode: Literal["local", "firebase"]
    signup_open: bool
    needs_setup: bool
    firebase: FirebaseConfig | None


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at, last_used_at=key.last_used_at
        )


class ApiKeyList(BaseModel):
    keys: list[ApiKeyOut]


class NewApiKeyOut(BaseModel):
    key: ApiKeyOut
    # The whole key, shown this once: only its hash is kept.
    secret: str
