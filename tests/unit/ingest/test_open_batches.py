"""The zips kept open between the parts of a batch's unpacking: at most a few, and none for long."""

from __future__ import annotations

import asyncio
import io
import zipfile
from uuid import uuid4

from tomehub.config import IngestSettings
from tomehub.ingest.archive import OpenBatch, OpenBatches, ZipBatch


def _batch() -> OpenBatch:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(3):
            archive.writestr(f"n{i}.md", f"note {i}")
    out.seek(0)
    return OpenBatch(ZipBatch(out, limits=IngestSettings(), label="b.zip"), recorded=0)


def _closed(batch: OpenBatch) -> bool:
    return batch.batch._archive.fp is None  # zipfile drops its file when closed


async def test_the_least_recently_kept_zip_is_closed_past_the_size() -> None:
    batches = OpenBatches(size=2)
    runs, kept = [uuid4() for _ in range(3)], [_batch() for _ in range(3)]
    for run, batch in zip(runs, kept, strict=True):
        batches.keep(run, batch)
    assert [_closed(b) for b in kept] == [True, False, False]
    assert batches.take(runs[0]) is None and batches.take(runs[2]) is kept[2]


async def test_a_zip_left_idle_is_closed() -> None:
    batches = OpenBatches(idle_s=0.01)
    run, batch = uuid4(), _batch()
    batches.keep(run, batch)
    await asyncio.sleep(0.3)
    assert _closed(batch) and batches.take(run) is None


async def test_a_zip_kept_again_outlives_the_idle_timer_of_its_earlier_keep() -> None:
    batches = OpenBatches(idle_s=3600)
    run, batch = uuid4(), _batch()
    batches.keep(run, batch)  # keep number 0
    assert batches.take(run) is batch  # its next part...
    batches.keep(run, batch)  # ...done: keep number 1
    batches._expire(run, 0)  # the first keep's timer
    assert not _closed(batch)
    batches._expire(run, 1)
    assert _closed(batch) and batches.take(run) is None


def test_the_next_part_skips_entries_recorded_by_name() -> None:
    batch = _batch()
    batch.skip.update({"n1.md": 1})
    assert [(i, e.name) for i, e in batch.next_part(5)] == [(0, "n0.md"), (2, "n2.md")]
    batch.next_entry = 1
    assert [i for i, _ in batch.next_part(1)] == [1]  # the skip was spent on the first pass
