"""Schema migrations (yoyo): ordered SQL/Python files in ``store/migrations``, applied under a lock.

Every process that opens the database applies what is missing before it opens its pools; yoyo's
lock makes concurrent starts (several workers, several machines) apply each migration once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

_log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def yoyo_url(url: str) -> str:
    # yoyo picks its psycopg 3 backend by scheme.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def apply_migrations(url: str) -> list[str]:
    """Applies pending migrations and returns the ids it applied."""
    backend = get_backend(yoyo_url(url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        ids = [m.id for m in pending]
        if ids:
            _log.info("applying migrations: %s", ", ".join(ids))
            backend.apply_migrations(pending)
    backend.connection.close()
    return ids
