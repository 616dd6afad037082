"""The sample library: a few short documents in every supported format, loaded for the demo user on
the first start (``make run``) or on demand (``tomehub demo``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tomehub.config import Settings
from tomehub.ingest import accept
from tomehub.ingest import service as ingest_service
from tomehub.ingest.schemas import AddItemIn
from tomehub.ingest.service import IngestQueue, UploadMeta
from tomehub.library.schemas import ItemType
from tomehub.llm.base import Embedder
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database
from tomehub.store.users import UserDirectory

_log = logging.getLogger(__name__)

LIBRARY_DIR = Path(__file__).parent / "library"
# One process loads the demo even when several workers start at once.
_DEMO_LOCK_KEY = 0x70_6D_65_68_75_62  # "tomehub" in spirit; any constant bigint works


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LIBRARY_DIR / "manifest.json").read_text(encoding="utf-8"))
    return data


async def load_demo(
    *, db: Database, queue: IngestQueue, embedder: Embedder, settings: Settings, user_uid: str, only_if_empty: bool
) -> list[Any] | None:
    """Loads the sample library for ``user_uid``; returns the run id and note ids, or None if skipped."""
    users = UserDirectory(db)
    user_id = await users.user_id(user_uid)
    async with db.write() as lock_conn:
        await lock_conn.execute("SELECT pg_advisory_lock(%s)", (_DEMO_LOCK_KEY,))
        try:
            if only_if_empty:
                row = await (
                    await lock_conn.execute("SELECT count(*) AS n FROM library_items WHERE user_id = %s", (user_id,))
                ).fetchone()
                if row is not None and int(row["n"]) > 0:
                    return None
            spec = manifest()
            files = []
            for entry in spec["files"]:
                files.append((entry["file"], (LIBRARY_DIR / entry["file"]).read_bytes()))
            run_ids = []
            for entry, (name, data) in zip(spec["files"], files, strict=True):
                meta = UploadMeta(
                    title=entry.get("title"),
                    author=entry.get("author"),
                    item_type=ItemType(entry.get("item_type", "BOOK")),
                    tags=tuple(entry.get("tags", [])),
                )
                accepted = await accept.submit_upload(
                    db=db, queue=queue, settings=settings, user_id=user_id, filename=name, data=data, meta=meta
                )
                run_ids.append(accepted.run_id)
            note_ids = []
            for note in spec.get("notes", []):
                item = await ingest_service.add_text_item(
                    db=db,
                    queue=queue,
                    embedder=embedder,
                    settings=settings,
                    user_id=user_id,
                    body=AddItemIn.model_validate(note),
                    deadline=Deadline.after(60),
                )
                note_ids.append(item.id)
            _log.info("demo library queued for user %r: %d files, %d notes", user_uid, len(files), len(note_ids))
            return [run_ids, note_ids]
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_DEMO_LOCK_KEY,))
