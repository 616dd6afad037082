"""The embedded server's tuning is sized to the machine at every start, and an operator's own
settings (including a tomehub.conf edited by hand before the tuning was managed) keep winning."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tomehub.store import embedded
from tomehub.store.embedded import memory_bytes, shared_buffers_mb, start_embedded


def _settings(pgdata: Path, *names: str) -> dict[str, str]:
    server = start_embedded(pgdata)
    try:
        with psycopg.connect(server.url) as conn:
            rows = conn.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(names),)
            ).fetchall()
    finally:
        server.stop()
    return {name: f"{setting}{unit or ''}" for name, setting, unit in rows}


def _buffers_mb(setting: str) -> int:
    assert setting.endswith("8kB"), setting
    return int(setting.removesuffix("8kB")) * 8 // 1024


def test_shared_buffers_is_a_quarter_of_memory_within_bounds() -> None:
    gib = 2**30
    assert shared_buffers_mb(24 * gib) == 6144
    assert shared_buffers_mb(256 * 2**20) == embedded.MIN_SHARED_BUFFERS_MB
    assert shared_buffers_mb(256 * gib) == embedded.MAX_SHARED_BUFFERS_MB


def test_a_new_and_an_upgraded_data_dir_get_shared_buffers_sized_to_the_machine(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    expected = shared_buffers_mb(memory_bytes())
    if expected == 256:
        pytest.skip("on a machine of 1 GB the sized tuning equals the old fixed one")
    assert _buffers_mb(_settings(pgdata, "shared_buffers")["shared_buffers"]) == expected

    # A data dir from before: the fixed 256 MB file, never edited, is replaced.
    (pgdata / embedded.TUNING_FILE).write_text(embedded._FIXED_TUNING)
    assert _buffers_mb(_settings(pgdata, "shared_buffers")["shared_buffers"]) == expected
    assert not (pgdata / embedded.LOCAL_TUNING_FILE).exists()


def test_a_hand_edited_tuning_file_is_kept_and_still_wins(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    _settings(pgdata, "work_mem")
    edited = embedded._FIXED_TUNING.replace("work_mem = 16MB", "work_mem = 48MB")
    (pgdata / embedded.TUNING_FILE).write_text(edited)

    settings = _settings(pgdata, "work_mem", "shared_buffers")

    assert (pgdata / embedded.LOCAL_TUNING_FILE).read_text() == edited
    assert (pgdata / embedded.TUNING_FILE).read_text().startswith(embedded._HEADER)
    assert settings["work_mem"] == "49152kB"
    # The operator's file sets 256 MB and is included last.
    assert _buffers_mb(settings["shared_buffers"]) == 256
