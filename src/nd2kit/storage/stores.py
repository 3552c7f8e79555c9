"""Byte stores: where the bytes of a file come from (first stage of the data flow).

A :class:`Store` gives random access to a file's bytes:

* :class:`MmapStore` — a local path: small reads with ``os.pread``, pixels from a
  read-only memory map made on first use; zero-copy views;
* :class:`BytesStore` — ``bytes`` / ``bytearray`` / ``memoryview`` in memory;
* :class:`FileStore` — any binary file-like object with ``seek``/``read``
  (fsspec files included); reads are serialised with a lock.

Every store is safe to use from several threads. ``buffer`` is the whole file as a
buffer-protocol object when the store has one (mmap, bytes), which lets frame
readers build numpy views without copying.
"""

from __future__ import annotations

import mmap
import os
import re
import threading
from pathlib import Path
from typing import IO, Any

from ..errors import CorruptChunkError, Nd2Error

__all__ = ["Store", "MmapStore", "BytesStore", "FileStore", "open_store", "is_url"]

_HAS_PREAD = hasattr(os, "pread")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+\-.]+://")


def is_url(path: Any) -> bool:
    """True for strings with a URL scheme (``s3://``, ``https://``, ``file://`` ...)."""
    return isinstance(path, str) and "://" in path and bool(_URL.match(path))


class Store:
    """Random access to the bytes of one file."""

    #: Path or URL the bytes came from ("" for in-memory data).
    path: str = ""
    #: The whole file as a buffer when available (zero-copy access), else None.
    buffer: Any = None
    size: int = 0

    def read(self, offset: int, n: int) -> bytes | memoryview:
        """Return `n` bytes at `offset` (a memoryview when zero-copy is possible)."""
        raise NotImplementedError

    def read_into_bytes(self, offset: int, n: int) -> bytes:
        """Like :meth:`read` but always ``bytes``."""
        b = self.read(offset, n)
        return b if isinstance(b, bytes) else bytes(b)

    def _check(self, offset: int, n: int) -> None:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise CorruptChunkError(
                f"read of {n} bytes at {offset} is outside the file ({self.size} bytes)",
                offset=offset,
            )

    def close(self) -> None:
        """Release the file (views handed out earlier stay valid for mmap stores)."""

    @property
    def closed(self) -> bool:
        return False

    def reopen(self) -> Store:
        """A fresh store on the same source (used after unpickling)."""
        raise Nd2Error("this store cannot be reopened")


class BytesStore(Store):
    """Bytes already in memory."""

    def __init__(self, data: bytes | bytearray | memoryview, path: str = "") -> None:
        self._mv = memoryview(data).cast("B")
        self.buffer = self._mv
        self.size = len(self._mv)
        self.path = path
        self._closed = False

    def read(self, offset: int, n: int) -> memoryview:
        self._check(offset, n)
        return self._mv[offset : offset + n]

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def reopen(self) -> BytesStore:
        return BytesStore(self._mv, self.path)


class MmapStore(Store):
    """A local file: small reads with ``os.pread``, large ones from a read-only memory map.

    The map is made on first use of :attr:`buffer` (frame views, zero-copy arrays,
    vectorised header reads) or of a large :meth:`read`, so opening a file and reading
    its metadata costs a few positional reads and no page faults. Where ``os.pread`` is
    missing (Windows) the map is made at once and serves every read.
    """

    #: reads of at least this many bytes go through the memory map (zero-copy)
    MAP_MIN = 256 * 1024

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                raise CorruptChunkError("file is empty", offset=0)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        self.size = size
        self._mm: mmap.mmap | None = None
        self._lock = threading.Lock()
        self._closed = False
        if not _HAS_PREAD:
            self._map()

    def _map(self) -> mmap.mmap:
        with self._lock:
            if self._mm is None:
                if self._fd is None:
                    raise Nd2Error(f"{self.path}: the file is closed")
                self._mm = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
            return self._mm

    @property  # type: ignore[override]
    def buffer(self) -> mmap.mmap:
        """The memory map of the whole file (made on first use)."""
        mm = self._mm
        return mm if mm is not None else self._map()

    def read(self, offset: int, n: int) -> bytes | memoryview:
        self._check(offset, n)
        mm = self._mm
        if mm is None:
            if n < self.MAP_MIN:
                return self.read_into_bytes(offset, n)
            mm = self._map()
        return memoryview(mm)[offset : offset + n]

    def read_into_bytes(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            self._check(offset, n)  # raises
        mm = self._mm
        if mm is not None:
            return mm[offset : offset + n]
        fd = self._fd
        if fd is None:
            raise Nd2Error(f"{self.path}: the file is closed")
        data = os.pread(fd, n, offset)
        if len(data) != n:
            raise CorruptChunkError(f"short read: {len(data)} of {n} bytes (file truncated?)",
                                    offset=offset)
        return data

    def close(self) -> None:
        # the memory map (if any) stays: numpy views handed out keep it alive
        with self._lock:
            self._closed = True
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    def reopen(self) -> MmapStore:
        return MmapStore(self.path)


class FileStore(Store):
    """A binary file-like object (local or fsspec); reads hold a lock."""

    def __init__(self, fh: IO[bytes], path: str = "", *, url: str | None = None,
                 storage_options: dict | None = None, owns: bool = False) -> None:
        self._fh = fh
        self._lock = threading.Lock()
        self._owns = owns
        self._url = url
        self._storage_options = storage_options
        self.path = path or url or str(getattr(fh, "name", "") or getattr(fh, "path", ""))
        with self._lock:
            self.size = fh.seek(0, 2)

    def read(self, offset: int, n: int) -> bytes:
        self._check(offset, n)
        with self._lock:
            self._fh.seek(offset)
            data = self._fh.read(n)
        if len(data) != n:
            raise CorruptChunkError(f"short read: {len(data)} of {n} bytes", offset=offset)
        return data

    def close(self) -> None:
        self._closed = True
        if self._owns:
            self._fh.close()

    @property
    def closed(self) -> bool:
        return getattr(self, "_closed", False) or bool(getattr(self._fh, "closed", False))

    def reopen(self) -> FileStore:
        if self._url is not None:
            return _open_url(self._url, self._storage_options)
        if self.path and Path(self.path).is_file():
            return FileStore(open(self.path, "rb"), self.path, owns=True)
        raise Nd2Error("a store made from a file object cannot be reopened")


def _open_url(url: str, storage_options: dict | None) -> FileStore:
    try:
        import fsspec
    except ImportError as e:  # pragma: no cover - depends on extras
        raise Nd2Error("opening URLs needs fsspec: pip install 'nd2kit[remote]'") from e
    fs, fpath = fsspec.core.url_to_fs(url, **(storage_options or {}))
    fh = fs.open(fpath, "rb", block_size=512 * 1024)
    return FileStore(fh, url, url=url, storage_options=storage_options, owns=True)


def open_store(source: Any, *, storage_options: dict | None = None) -> Store:
    """Make a store from a path, URL, bytes-like object, or binary file object."""
    if isinstance(source, Store):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BytesStore(source)
    if is_url(source) and not str(source).startswith("file://"):
        return _open_url(str(source), storage_options)
    if isinstance(source, str) and source.startswith("file://"):
        source = source[len("file://"):]
    if isinstance(source, (str, os.PathLike)):
        return MmapStore(source)
    if hasattr(source, "read") and hasattr(source, "seek"):
        return FileStore(source)
    raise TypeError(f"cannot read an ND2 file from {type(source).__name__}")
