"""Token verification: local keys and a Firebase-style JWKS endpoint (served locally)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest

from tomehub.auth.tokens import TokenVerifier, issue_local_token, load_or_create_signing_key, local_jwks
from tomehub.config import AuthSettings, Settings
from tomehub.errors import Unauthorized


def test_local_token_roundtrip_and_key_file_mode(tmp_path: Path) -> None:
    key_path = tmp_path / "auth" / "key.pem"
    settings = AuthSettings()
    token = issue_local_token(settings, key_path, "alice")
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    assert TokenVerifier(settings, local_key_path=key_path).verify(token).uid == "alice"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "https://securetoken.google.com/tomehub-local"
    assert claims["aud"] == "tomehub-local"


def test_local_key_is_stable_across_restarts(tmp_path: Path) -> None:
    key_path = tmp_path / "key.pem"
    a = load_or_create_signing_key(key_path)
    b = load_or_create_signing_key(key_path)
    assert a.private_numbers() == b.private_numbers()


@pytest.fixture
def jwks_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    key_path = tmp_path / "issuer.pem"
    body = local_jwks(key_path).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks", key_path
    server.shutdown()


def test_firebase_mode_verifies_against_the_jwks_url(jwks_server: tuple[str, Path]) -> None:
    url, key_path = jwks_server
    settings = AuthSettings(mode="firebase", project_id="my-project", jwks_url=url)
    verifier = TokenVerifier(settings)
    token = issue_local_token(settings, key_path, "uid-123")
    assert verifier.verify(token).uid == "uid-123"
    other = AuthSettings(mode="firebase", project_id="other-project", jwks_url=url)
    with pytest.raises(Unauthorized, match="not valid"):
        verifier.verify(issue_local_token(other, key_path, "uid-123"))
    expired = issue_local_token(settings, key_path, "uid-123", ttl_s=-3600)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(expired)
    unknown_kid = jwt.encode(
        {
            "sub": "x",
            "aud": "my-project",
            "iss": settings.issuer,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        load_or_create_signing_key(key_path),
        algorithm="RS256",
        headers={"kid": "rotated-away"},
    )
    with pytest.raises(Unauthorized, match="unknown"):
        verifier.verify(unknown_kid)


def test_settings_refuse_local_tokens_in_production() -> None:
    with pytest.raises(ValueError, match="firebase"):
        Settings(env="prod")
    with pytest.raises(ValueError, match="PROJECT_ID"):
        Settings(auth=AuthSettings(mode="firebase"))


def test_workers_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    import multiprocessing

    key_path = tmp_path / "auth" / "key.pem"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        numbers = pool.map(_key_modulus, [key_path] * 8)
    assert len(set(numbers)) == 1
    assert load_or_create_signing_key(key_path).private_numbers().public_numbers.n == numbers[0]


def _key_modulus(path: Path) -> int:
    return load_or_create_signing_key(path).private_numbers().public_numbers.n


def test_a_verified_token_is_remembered_until_it_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_path = tmp_path / "key.pem"
    settings = AuthSettings(leeway_s=0)
    verifier = TokenVerifier(settings, local_key_path=key_path)
    decodes = 0
    decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    token = issue_local_token(settings, key_path, "alice", ttl_s=2)
    assert verifier.verify(token).uid == "alice"
    assert verifier.verify(token).uid == "alice"
    assert decodes == 1  # the second request's token was not verified again
    # A bad token is never remembered: each try is verified, and refused.
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            verifier.verify(forged)
    assert decodes == 3
    # Past its expiry the token is verified again, and refused.
    time.sleep(2.2)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)
