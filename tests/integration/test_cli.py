"""The command line, run as a user would: a fresh data dir, the embedded server, the real embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tomehub.auth.tokens import TokenVerifier
from tomehub.config import AuthSettings

TOMEHUB = [sys.executable, "-m", "tomehub"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


def run(data_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # No logging settings in the environment: what a person sees by default is under test too.
    env = {k: v for k, v in os.environ.items() if k not in ("TOMEHUB_LOG_LEVEL", "TOMEHUB_LOG_JSON")}
    env["TOMEHUB_DATA_DIR"] = str(data_dir)
    return subprocess.run([*TOMEHUB, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def json_log_lines(text: str) -> list[dict[str, Any]]:
    """Returns the structured log records among the lines of ``text``."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "event" in record and "level" in record:
            records.append(record)
    return records


def test_token_create_prints_only_a_verifiable_token(data_dir: Path) -> None:
    result = run(data_dir, "token", "create", "--user", "alice")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    verifier = TokenVerifier(AuthSettings(), local_key_path=data_dir / "auth" / "local-signing-key.pem")
    assert verifier.verify(lines[0]).uid == "alice"


def test_ingest_search_and_ask(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "books"
    (folder / "sub").mkdir(parents=True)
    (folder / "being.md").write_text(
        "# Being and Time\n\n## Dasein\n\nDasein is Heidegger's term for the being that we ourselves are; "
        "it is the entity for which its own being is an issue.\n"
    )
    (folder / "sub" / "notes.txt").write_text("Stoics practised the premeditation of evils every morning.")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    (folder / "photo.png").write_bytes(b"\x89PNG not a document")
    result = run(data_dir, "ingest", str(folder), "--user", "alice", "--tags", "philosophy")
    assert result.returncode == 0, result.stderr
    assert "2 file(s) ingested, 1 failed" in result.stderr
    assert "broken.pdf" in result.stderr

    result = run(data_dir, "search", "premeditation of evils", "--user", "alice")
    assert result.returncode == 0, result.stderr
    assert "notes" in result.stdout
    assert "tier 1" in result.stdout

    result = run(data_dir, "ask", "What is Dasein?", "--user", "alice")
    assert result.returncode == 0, result.stderr
    assert "Dasein is Heidegger's term" in result.stdout
    assert "answerer: extractive" in result.stdout
    assert "Being and Time" in result.stdout

    # Another user's library is empty.
    result = run(data_dir, "search", "Dasein", "--user", "bob")
    assert "0 hits" in result.stdout


def test_help_lists_the_commands(data_dir: Path) -> None:
    result = run(data_dir, "--help")
    assert result.returncode == 0
    for command in ("serve", "ingest", "search", "ask", "token", "demo"):
        assert command in result.stdout


def test_commands_show_only_their_output_unless_logs_are_asked_for(data_dir: Path) -> None:
    for args in (("search", "Dasein", "--user", "carol"), ("ask", "What is Dasein?", "--user", "carol")):
        result = run(data_dir, *args)
        assert result.returncode == 0, result.stderr
        assert json_log_lines(result.stdout) == [] and json_log_lines(result.stderr) == [], result.stderr
        assert "[info" not in result.stderr

    result = run(data_dir, "--log-format", "json", "search", "Dasein", "--user", "carol")
    assert result.returncode == 0, result.stderr
    assert "0 hits" in result.stdout and json_log_lines(result.stdout) == []
    records = json_log_lines(result.stderr)
    assert any(r["level"] == "info" and r["logger"] == "tomehub.store.embedded" for r in records), result.stderr

    result = run(data_dir, "--verbose", "search", "Dasein", "--user", "carol")
    assert result.returncode == 0, result.stderr
    assert json_log_lines(result.stderr) == []
    assert "[info" in result.stderr and "embedded PostgreSQL ready" in result.stderr

    result = run(data_dir, "--log-format", "xml", "search", "Dasein", "--user", "carol")
    assert result.returncode == 2
    result = run(data_dir, "--help")
    assert "--verbose" in result.stdout and "--log-format" in result.stdout
