"""Files arriving in a batch: zip entries read from disk one at a time, and files from a folder.

A batch never sits in memory whole: each ``Incoming`` reads its own bytes when its turn comes (in a
thread, off the event loop), so a 1 GiB zip of 20,000 files holds one entry at a time. A zip is
checked against the limits before anything is read (entries, declared total); each entry against
its own when read (size, compression ratio, the real total so far: a zip may lie in its headers).
A bad entry (encrypted, corrupt, too large, a bomb) is that file's error; the others go on.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO
from uuid import UUID

from tomehub.config import IngestSettings
from tomehub.errors import BadInput, CorruptDocument, DocumentError, EncryptedDocument, PayloadTooLarge

# Characters a file name keeps: control characters (NUL among them) and unpaired surrogates go.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class UnsafeArchiveEntry(DocumentError):
    """A zip entry refused before it was unpacked (a decompression bomb)."""

    code = "unsafe_archive_entry"


@dataclass(frozen=True)
class Incoming:
    """One file of a batch: its name and how to read its bytes (raises TomehubError for this file)."""

    name: str
    read: Callable[[], bytes]

    @classmethod
    def of(cls, name: str, data: bytes) -> Incoming:
        return cls(name, lambda: data)

    @classmethod
    def from_path(cls, path: Path, *, limit: int) -> Incoming:
        def read() -> bytes:
            size = path.stat().st_size
            if size > limit:
                raise PayloadTooLarge(f"{path.name} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB.")
            return path.read_bytes()

        return cls(str(path), read)


def safe_name(raw: str) -> str:
    """Returns an entry's path made harmless: no absolute paths, drive letters, ``..`` or control
    characters (names are shown and stored, never used to write a file, but they must not lie)."""
    text = _UNSAFE.sub("", unicodedata.normalize("NFC", raw.replace("\\", "/")))
    parts = [p for p in PurePosixPath(text).parts if p not in ("/", ".", "..") and not p.endswith(":")]
    return "/".join(parts)[:500] or "unnamed"


def _wanted(info: zipfile.ZipInfo) -> bool:
    name = PurePosixPath(info.filename.replace("\\", "/"))
    return not info.is_dir() and not name.name.startswith(".") and "__MACOSX" not in name.parts


class _Unpacker:
    """Reads a zip's entries one by one, counting what they really unpack to."""

    def __init__(self, archive: zipfile.ZipFile, limits: IngestSettings, label: str) -> None:
        self.archive = archive
        self.limits = limits
        self.label = label
        self.unpacked = 0

    def read(self, info: zipfile.ZipInfo, name: str) -> bytes:
        limit = self.limits.max_upload_bytes
        if info.flag_bits & 0x1:
            raise EncryptedDocument(f"{name} is encrypted inside {self.label}; add it without a password.")
        if info.file_size > limit:
            raise PayloadTooLarge(
                f"{name} unpacks to {info.file_size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB."
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > self.limits.max_batch_compression_ratio:
            raise UnsafeArchiveEntry(
                f"{name} would unpack {ratio:.0f} times its compressed size (a decompression bomb); "
                f"the limit is {self.limits.max_batch_compression_ratio:.0f} "
                "(TOMEHUB_INGEST__MAX_BATCH_COMPRESSION_RATIO)."
            )
        room = self.limits.max_batch_unpacked_bytes - self.unpacked
        try:
            with self.archive.open(info) as entry:
                # Never more than the header promised (plus one byte to catch a lie).
                data = entry.read(min(limit, room, info.file_size) + 1)
        except RuntimeError as exc:  # zipfile's "encrypted, password required"
            raise EncryptedDocument(f"{name} is encrypted inside {self.label}; add it without a password.") from exc
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
            raise CorruptDocument(f"{name} could not be unpacked from {self.label}: {exc}.") from exc
        if len(data) > room:
            raise PayloadTooLarge(
                f"{self.label} unpacks past {self.limits.max_batch_unpacked_bytes / 1e6:.0f} MB; "
                f"{name} and the files after it were not read."
            )
        if len(data) > info.file_size:
            raise CorruptDocument(
                f"{name} unpacks to more than its header says ({info.file_size} bytes) in {self.label}."
            )
        self.unpacked += len(data)
        return data


class ZipBatch:
    """A zip's documents as Incoming files, read lazily one at a time. Opening it reads the central
    directory and refuses an archive that breaks the batch limits. Blocking: open it, and call each
    ``read``, off the event loop; close it (or use ``with``) when done."""

    def __init__(self, source: IO[bytes] | Path, *, limits: IngestSettings, label: str) -> None:
        try:
            self._archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise BadInput(f"{label} is not a readable zip archive.") from exc
        try:
            wanted = [info for info in self._archive.infolist() if _wanted(info)]
            if len(wanted) > limits.max_batch_files:
                raise BadInput(f"{label} holds {len(wanted)} files; a batch takes at most {limits.max_batch_files}.")
            declared = sum(info.file_size for info in wanted)
            if declared > limits.max_batch_unpacked_bytes:
                raise PayloadTooLarge(
                    f"{label} unpacks to {declared / 1e6:.0f} MB; "
                    f"the limit is {limits.max_batch_unpacked_bytes / 1e6:.0f} MB."
                )
        except BaseException:
            self._archive.close()
            raise
        unpacker = _Unpacker(self._archive, limits, label)
        self.entries = [_entry(unpacker, info) for info in wanted]

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> ZipBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _entry(unpacker: _Unpacker, info: zipfile.ZipInfo) -> Incoming:
    name = safe_name(info.filename)
    return Incoming(name, lambda: unpacker.read(info, name))


@dataclass
class OpenBatch:
    """A batch's zip kept open between the parts of its unpacking, with where the next part starts."""

    batch: ZipBatch
    recorded: int  # the run's recorded files when this process finished its last part
    next_entry: int = 0  # every entry before it is recorded
    # Names recorded at or after next_entry, counted (a part cut short by a crash leaves such gaps).
    skip: Counter[str] = field(default_factory=Counter)

    def next_part(self, size: int) -> list[tuple[int, Incoming]]:
        """The next ``size`` entries not recorded yet, with their positions in the zip."""
        part: list[tuple[int, Incoming]] = []
        for position in range(self.next_entry, len(self.batch.entries)):
            incoming = self.batch.entries[position]
            if self.skip[incoming.name] > 0:
                self.skip[incoming.name] -= 1
                continue
            part.append((position, incoming))
            if len(part) == size:
                break
        return part


class OpenBatches:
    """The zips this process is unpacking, kept open from one part to the next (at most ``size``; the
    least recently used is closed). Opening a zip reads its whole central directory (~300 ms for
    20,000 entries here), and a part records ``ingest.unpack_batch_files`` (200) of them: without
    this, a 20,000-file batch would read it a hundred times. Keyed by run: one run's parts run one
    after another, never at once. A zip left for ``idle_s`` is closed: its next part may run in
    another process, which then deletes it from the store, and an open file keeps its disk space."""

    def __init__(self, size: int = 2, idle_s: float = 300.0) -> None:
        self.size = size
        self.idle_s = idle_s
        # Each keep's number: an idle timer closes the zip only if it was not kept again since.
        self._open: dict[UUID, tuple[OpenBatch, int]] = {}
        self._keeps = itertools.count()

    def take(self, run_id: UUID) -> OpenBatch | None:
        """Returns the run's open zip, and forgets it (``keep`` it again after the part)."""
        kept = self._open.pop(run_id, None)
        return kept[0] if kept else None

    def keep(self, run_id: UUID, batch: OpenBatch) -> None:
        """Keeps a run's zip open for its next part. Call from the event loop."""
        if (replaced := self.take(run_id)) is not None and replaced is not batch:
            replaced.batch.close()
        number = next(self._keeps)
        self._open[run_id] = (batch, number)  # dicts keep insertion order: the first is the least recent
        while len(self._open) > self.size:
            self._open.pop(next(iter(self._open)))[0].batch.close()
        asyncio.get_running_loop().call_later(self.idle_s, self._expire, run_id, number)

    def discard(self, run_id: UUID) -> None:
        if (kept := self.take(run_id)) is not None:
            kept.batch.close()

    def _expire(self, run_id: UUID, number: int) -> None:
        kept = self._open.get(run_id)
        if kept is not None and kept[1] == number:
            self.discard(run_id)
