"""Bearer tokens: Firebase ID tokens (RS256, Google's JWKS) and, for the embedded default, tokens
signed with a key kept in the data dir. Both are verified by the same code: the signature against a
JWKS key, ``aud`` = project id, ``iss`` = the securetoken issuer, ``sub`` = the user id.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tomehub.config import AuthSettings
from tomehub.errors import Unauthorized

_ALGORITHMS = ["RS256"]
_LOCAL_KID = "tomehub-local-1"
# Verified tokens are remembered until they expire, at most this long: a client sends the same token
# with every request, and its RSA verification was a twentieth of an API process's CPU per search.
_VERIFIED_MAX_S = 300.0
_VERIFIED_MAX_TOKENS = 1024


@dataclass(frozen=True)
class Principal:
    """Who a verified token says the caller is, and by which credential.

    ``session_id`` and ``csrf`` are set for a browser session's token (its row must still be live);
    ``api_key_id`` for a personal API key; ``via`` says how the credential arrived.
    """

    uid: str
    session_id: str | None = None
    csrf: str | None = None
    api_key_id: int | None = None
    via: Literal["bearer", "cookie", "api_key"] = "bearer"


class TokenVerifier:
    """Verifies bearer tokens and returns the principal they name."""

    def __init__(self, settings: AuthSettings, *, local_key_path: Path | None = None) -> None:
        self._settings = settings
        self._local_key: Any = None
        self._jwks: jwt.PyJWKClient | None = None
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=_VERIFIED_MAX_TOKENS, ttu=lambda _token, value, _now: value[1], timer=time.monotonic
        )
        self._verified_lock = threading.Lock()
        if settings.mode == "local":
            if local_key_path is None:
                raise ValueError("local auth needs the signing key's path")
            self._local_key = load_or_create_signing_key(local_key_path).public_key()
        else:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=settings.jwks_cache_s, timeout=5)

    def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._local_key
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise Unauthorized("The token's signing key is unknown.") from exc
        except jwt.DecodeError as exc:
            raise Unauthorized("The bearer token is malformed.") from exc

    def verify(self, token: str) -> Principal:
        """Returns the principal of a valid token; raises Unauthorized otherwise. A token verified
        before is not verified again until it expires (the same string carries the same signature
        and claims; only the clock moves, and an entry ends at the token's expiry)."""
        with self._verified_lock:
            known = self._verified.get(token)
        if known is not None:
            remembered: Principal = known[0]
            return remembered
        principal, exp = self._verify(token)
        # The expiry on the monotonic clock, as the cache counts time; leeway as jwt.decode allows.
        ttl = min(exp + self._settings.leeway_s - time.time(), _VERIFIED_MAX_S)
        if ttl > 0:
            with self._verified_lock:
                self._verified[token] = (principal, time.monotonic() + ttl)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                audience=self._settings.project_id,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_s,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired; sign in again.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The token is not valid: {exc}.") from exc
        uid = claims.get("sub")
        if not isinstance(uid, str) or not uid or len(uid) > 128:
            raise Unauthorized("The token names no user.")
        exp = float(claims["exp"])
        if self._jwks is not None:
            # Only this server's own session tokens carry a session; a Firebase claim of that
            # name means something else.
            return Principal(uid=uid), exp
        sid, csrf = claims.get("sid"), claims.get("csrf")
        if sid is None:
            return Principal(uid=uid), exp
        if not isinstance(sid, str) or not isinstance(csrf, str) or not csrf:
            raise Unauthorized("The session token is malformed.")
        return Principal(uid=uid, session_id=sid, csrf=csrf), exp


def load_or_create_signing_key(path: Path) -> rsa.RSAPrivateKey:
    """Returns the local signing key, creating it (mode 600) on first use."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Several workers may start at once: the first complete key to be linked into place wins and
    # every other process loads it, so all of them verify the same tokens.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_or_create_signing_key(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def issue_local_token(
    settings: AuthSettings,
    key_path: Path,
    uid: str,
    *,
    ttl_s: int | None = None,
    session_id: str | None = None,
    csrf: str | None = None,
) -> str:
    """Returns a token for ``uid`` signed with the local key, shaped like a Firebase ID token; a
    browser session's token also names its session (``sid``) and its CSRF token (``csrf``)."""
    key = load_or_create_signing_key(key_path)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.project_id,
        "sub": uid,
        "user_id": uid,
        "iat": now,
        "auth_time": now,
        "exp": now + (ttl_s if ttl_s is not None else settings.local_token_ttl_s),
    }
    if session_id is not None:
        claims.update(sid=session_id, csrf=csrf)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": _LOCAL_KID})


def local_jwks(key_path: Path) -> str:
    """Returns the JWKS document of the local key (what a JWKS URL would serve)."""
    public = load_or_create_signing_key(key_path).public_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    jwk.update({"kid": _LOCAL_KID, "alg": "RS256", "use": "sig"})
    return json.dumps({"keys": [jwk]})
