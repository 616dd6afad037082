"""`tomehub user` and `tomehub key`, run as an operator would: a fresh data dir, the embedded server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tomehub.auth.keys import well_formed
from tomehub.store.embedded import start_embedded

TOMEHUB = [sys.executable, "-m", "tomehub"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-accounts")


def run(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOMEHUB_DATA_DIR": str(data_dir), "TOMEHUB_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [*TOMEHUB, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def query(data_dir: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    server = start_embedded(data_dir / "pg")
    try:
        with psycopg.connect(server.url) as conn:
            return conn.execute(sql, params).fetchall()
    finally:
        server.stop()


def test_user_create_reads_the_password_from_stdin(data_dir: Path) -> None:
    result = run(data_dir, "user", "create", "Alice", "--admin", "--password-stdin", stdin="a long password\n")
    assert result.returncode == 0, result.stderr
    assert "a long password" not in result.stdout + result.stderr
    result = run(data_dir, "user", "create", "alice", "--password-stdin", stdin="another password\n")
    assert result.returncode == 1
    assert "taken" in result.stderr
    result = run(data_dir, "user", "create", "bob", "--password-stdin", stdin="short\n")
    assert result.returncode == 2
    assert "at least 8" in result.stderr
    result = run(data_dir, "user", "list")
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout
    assert "bob" not in result.stdout
    rows = query(data_dir, "SELECT a.is_admin, a.password_hash, u.uid FROM accounts a JOIN users u ON u.id = a.user_id")
    assert len(rows) == 1
    is_admin, password_hash, uid = rows[0]
    assert is_admin is True
    assert uid == "alice"
    assert str(password_hash).startswith("$argon2id$")


def test_key_create_prints_only_the_key_and_revoke_ends_it(data_dir: Path) -> None:
    result = run(data_dir, "key", "create", "--user", "alice", "--name", "backup script")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    key = lines[0]
    assert well_formed(key)
    ((key_id, name, revoked),) = query(
        data_dir,
        "SELECT id, name, revoked_at FROM api_keys WHERE key_hash = %s",
        hashlib.sha256(key.encode()).hexdigest(),
    )
    assert name == "backup script"
    assert revoked is None

    listed = run(data_dir, "key", "list", "--user", "alice")
    assert listed.returncode == 0, listed.stderr
    assert key[3:11] in listed.stdout  # the public prefix
    assert key[12:] not in listed.stdout  # never the secret

    result = run(data_dir, "key", "revoke", str(key_id))
    assert result.returncode == 0, result.stderr
    ((revoked,),) = query(data_dir, "SELECT revoked_at FROM api_keys WHERE id = %s", key_id)
    assert revoked is not None
    assert run(data_dir, "key", "revoke", "424242").returncode == 1


def test_disable_revokes_keys_and_enable_restores_sign_in(data_dir: Path) -> None:
    key = run(data_dir, "key", "create", "--user", "alice").stdout.strip()
    result = run(data_dir, "user", "disable", "alice")
    assert result.returncode == 0, result.stderr
    ((disabled, revoked),) = query(
        data_dir,
        "SELECT a.disabled_at IS NOT NULL, k.revoked_at IS NOT NULL FROM accounts a"
        " JOIN api_keys k ON k.user_id = a.user_id WHERE k.key_hash = %s",
        hashlib.sha256(key.encode()).hexdigest(),
    )
    assert disabled is True
    assert revoked is True
    assert run(data_dir, "user", "enable", "alice").returncode == 0
    assert query(data_dir, "SELECT disabled_at FROM accounts WHERE username = 'alice'") == [(None,)]
    assert run(data_dir, "user", "disable", "nobody").returncode == 1
