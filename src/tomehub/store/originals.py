"""Kept originals: the uploaded files themselves, content-addressed by SHA-256 and stored once.

Two stores behind one small interface: a directory under the data dir (the default, one machine) and
any S3-compatible object store (several machines share it; a worker elsewhere reads what an API
process accepted). Keys are the hex digest, sharded by its first two byte pairs (``ab/cd/abcd…``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Protocol
from urllib.parse import urlparse

from fastapi import Depends, Request

if TYPE_CHECKING:
    from tomehub.config import Settings

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Ranged reads stream in slices this big: a PDF reader's page fetch is one or two of them.
STREAM_SLICE_BYTES = 256 * 1024
# Downloaded copies an S3 store keeps on this machine (local_copy).
_KEPT_COPIES = 2


def _key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class OriginalStore(Protocol):
    """Where originals live; every method takes the file's SHA-256 hex digest."""

    async def put(self, sha256: str, data: bytes) -> None: ...

    async def put_file(self, sha256: str, source: BinaryIO) -> None:
        """Stores a file read from ``source`` (from its start) without holding it in memory."""
        ...

    def local_copy(self, sha256: str) -> AbstractAsyncContextManager[Path]:
        """Yields a path on this machine holding the file (the file itself, or a temporary copy)."""
        ...

    async def size(self, sha256: str) -> int | None: ...

    async def read_range(self, sha256: str, start: int, end: int) -> bytes: ...

    def stream(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]: ...

    async def delete(self, sha256: str) -> None: ...

    def local_path(self, sha256: str) -> Path | None: ...


class LocalOriginals:
    """Originals in a directory tree; writes are atomic (a temp file renamed into place)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, sha256: str) -> Path:
        return self.root / _key(sha256)

    async def put(self, sha256: str, data: bytes) -> None:
        """Stores a file unless it is there already (same digest, same bytes)."""
        await asyncio.to_thread(self._put, sha256, data)

    def _put(self, sha256: str, data: bytes | BinaryIO) -> None:
        path = self.local_path(sha256)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    data.seek(0)
                    shutil.copyfileobj(data, out, STREAM_SLICE_BYTES * 4)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put_file(self, sha256: str, source: BinaryIO) -> None:
        await asyncio.to_thread(self._put, sha256, source)

    @asynccontextmanager
    async def local_copy(self, sha256: str) -> AsyncIterator[Path]:
        path = self.local_path(sha256)
        if not await asyncio.to_thread(path.exists):
            raise FileNotFoundError(path)
        yield path

    async def size(self, sha256: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.local_path(sha256).stat)).st_size
        except FileNotFoundError:
            return None

    async def read_range(self, sha256: str, start: int, end: int) -> bytes:
        """Returns bytes [start, end) of a file."""

        def read() -> bytes:
            with self.local_path(sha256).open("rb") as f:
                f.seek(start)
                return f.read(max(0, end - start))

        return await asyncio.to_thread(read)

    async def stream(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
        for offset in range(start, end, STREAM_SLICE_BYTES):
            yield await self.read_range(sha256, offset, min(end, offset + STREAM_SLICE_BYTES))

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.local_path(sha256).unlink, missing_ok=True)


class S3Originals:
    """Originals in an S3-compatible bucket (AWS, MinIO, R2, …) through obstore."""

    def __init__(self, url: str, *, endpoint: str | None, region: str | None, config: dict[str, str]) -> None:
        try:
            from obstore.store import S3Store
        except ImportError as exc:  # an optional extra: say how to get it, not a bare ImportError
            raise RuntimeError(
                "TOMEHUB_ORIGINALS_URL names an S3 store, which needs obstore: pip install 'tomehub[s3]'."
            ) from exc

        parsed = urlparse(url)
        options: dict[str, Any] = dict(config)
        if endpoint:
            options["endpoint"] = endpoint
        if region:
            options["region"] = region
        self._copies: dict[str, Path] = {}
        self._store = S3Store(
            parsed.netloc,
            prefix=parsed.path.strip("/") or None,
            client_options={"allow_http": bool(endpoint and endpoint.startswith("http://"))},
            **options,
        )

    def local_path(self, sha256: str) -> None:
        return None

    async def put(self, sha256: str, data: bytes) -> None:
        """Stores a file unless it is there already (same digest, same bytes)."""
        import obstore

        if await self.size(sha256) is None:
            await obstore.put_async(self._store, _key(sha256), data)

    async def put_file(self, sha256: str, source: BinaryIO) -> None:
        """Stores a file unless it is there already; large files go up in parts (multipart)."""
        import obstore

        if await self.size(sha256) is None:
            source.seek(0)
            await obstore.put_async(self._store, _key(sha256), source)

    @asynccontextmanager
    async def local_copy(self, sha256: str) -> AsyncIterator[Path]:
        """Yields a temporary copy of the file, downloaded once and kept for the next use (a batch's zip
        is read once per part of its unpacking): the last _KEPT_COPIES stay, and a copy goes with its
        file's deletion. An evicted copy still open elsewhere stays readable (unlinked, not closed)."""
        path = self._copies.pop(sha256, None)
        if path is None or not await asyncio.to_thread(path.exists):
            path = await self._download(sha256)
        self._copies[sha256] = path  # most recently used last
        while len(self._copies) > _KEPT_COPIES:
            oldest = self._copies.pop(next(iter(self._copies)))
            await asyncio.to_thread(oldest.unlink, missing_ok=True)
        yield path

    async def _download(self, sha256: str) -> Path:
        import obstore

        result = await obstore.get_async(self._store, _key(sha256))
        fd, tmp = tempfile.mkstemp(prefix="tomehub-original-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for piece in result.stream(min_chunk_size=STREAM_SLICE_BYTES * 4):
                    await asyncio.to_thread(out.write, piece)
        except BaseException:
            await asyncio.to_thread(Path(tmp).unlink, missing_ok=True)
            raise
        return Path(tmp)

    async def size(self, sha256: str) -> int | None:
        import obstore

        try:
            meta = await obstore.head_async(self._store, _key(sha256))
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def read_range(self, sha256: str, start: int, end: int) -> bytes:
        """Returns bytes [start, end) of a file (one ranged GET)."""
        import obstore

        if end <= start:
            return b""
        return bytes(await obstore.get_range_async(self._store, _key(sha256), start=start, end=end))

    async def stream(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
        for offset in range(start, end, STREAM_SLICE_BYTES):
            yield await self.read_range(sha256, offset, min(end, offset + STREAM_SLICE_BYTES))

    async def delete(self, sha256: str) -> None:
        import obstore

        copy = self._copies.pop(sha256, None)
        if copy is not None:
            await asyncio.to_thread(copy.unlink, missing_ok=True)

        try:
            await obstore.delete_async(self._store, _key(sha256))
        except FileNotFoundError:
            return


def open_originals(settings: Settings) -> OriginalStore:
    """Returns the store the settings name: S3 for an ``s3://`` URL, else a directory under the data dir."""
    url = settings.originals_url
    if url and url.startswith("s3://"):
        config: dict[str, str] = {}
        if settings.originals_s3_access_key_id:
            config["access_key_id"] = settings.originals_s3_access_key_id
        if settings.originals_s3_secret_access_key:
            config["secret_access_key"] = settings.originals_s3_secret_access_key.get_secret_value()
        return S3Originals(
            url, endpoint=settings.originals_s3_endpoint, region=settings.originals_s3_region, config=config
        )
    if url:
        return LocalOriginals(Path(url.removeprefix("file://")).expanduser().resolve())
    return LocalOriginals(settings.resolved_data_dir / "originals")


async def get_originals(request: Request) -> OriginalStore:
    """Returns the app's original store (built once at start-up)."""
    store: OriginalStore = request.app.state.originals
    return store


Originals = Annotated[OriginalStore, Depends(get_originals)]
