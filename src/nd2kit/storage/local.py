"""Local files: :class:`MmapStore` (read-only) and :class:`LocalWritableStore`."""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import StoreError
from ._base import BaseStore
from .protocol import Buffer, Range, RangePolicy

__all__ = ["MmapStore", "LocalWritableStore"]

_HAS_PREAD = hasattr(os, "pread")
_FLAGS = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def _no_readahead_fd(fd: int) -> None:
    """Ask the OS not to read ahead on this descriptor's positional reads."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        except OSError:  # pragma: no cover - advisory only
            pass


class MmapStore(BaseStore):
    """A local file: small reads with ``os.pread``, pixels from a lazy read-only memory map.

    The map is made on first use of :attr:`buffer` / :meth:`view` (frame views,
    zero-copy arrays) or of a large :meth:`read`, so opening a file and reading its
    metadata costs a few positional reads and no page faults. Read-ahead is turned
    off for the positional reads and on the map (``MADV_RANDOM``: a cold read of one frame or crop reads only the
    pages it touches); bulk readers call :meth:`will_need` on the span they are
    about to copy, which turns read-ahead back on there. Where ``os.pread`` is missing (Windows) the
    map is made at once and serves every read.

    Thread safety: safe; ``pread`` has no file position and the map is made under a lock.
    """

    #: reads of at least this many bytes go through the memory map (zero-copy)
    MAP_MIN = 256 * 1024

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        fd = os.open(self.path, os.O_RDONLY | _FLAGS)  # FileNotFoundError etc. as they are
        try:
            self.size = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        _no_readahead_fd(fd)
        self._fd: int | None = fd
        self._mm: mmap.mmap | None = None
        self._lock = threading.Lock()
        self._closed = False
        if not _HAS_PREAD and self.size:  # pragma: no cover - Windows
            self._map()

    def _map(self) -> mmap.mmap:
        with self._lock:
            if self._mm is None:
                if self._fd is None:
                    raise self._closed_error(0)
                if self.size == 0:
                    raise StoreError(f"{self._where()}an empty file cannot be mapped", offset=0)
                # the map gets its own descriptor: the pread one's no-read-ahead advice
                # would also stop the read-ahead that will_need turns on for bulk copies
                try:
                    mfd = os.open(self.path, os.O_RDONLY | _FLAGS)
                    a, b = os.fstat(mfd), os.fstat(self._fd)
                    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):  # replaced since: map ours
                        os.close(mfd)
                        mfd = os.dup(self._fd)
                except OSError:
                    mfd = os.dup(self._fd)
                try:
                    mm = mmap.mmap(mfd, 0, access=mmap.ACCESS_READ)
                finally:
                    os.close(mfd)
                if hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
                    mm.madvise(mmap.MADV_RANDOM)
                self._mm = mm
            return self._mm

    @property
    def buffer(self) -> mmap.mmap:
        """The memory map of the whole file (made on first use)."""
        mm = self._mm
        return mm if mm is not None else self._map()

    @property
    def closed(self) -> bool:
        return self._closed

    def view(self, offset: int, n: int) -> memoryview:
        self._check(offset, n)
        if self._closed:
            raise self._closed_error(offset)
        return memoryview(self.buffer)[offset : offset + n]

    def read_ranges(self, ranges: Sequence[Range], policy: RangePolicy | None = None) -> list[Buffer]:
        """Views of the map when it exists (no copy), else coalesced ``pread`` calls."""
        mm = self._mm
        if mm is None or self._closed:
            return super().read_ranges(ranges, policy)
        for off, n in ranges:
            self._check(off, n)
        mv = memoryview(mm)
        return [mv[off : off + n] for off, n in ranges]

    def will_need(self, offset: int, n: int, *, sequential: bool = True) -> None:
        """Hint that bytes ``offset:offset+n`` are about to be read (asynchronous read-in).

        With `sequential` (bulk copies) the span also gets its read-ahead back; without
        it only the pages of the span itself are read in (single frames, row bands)."""
        mm = self._mm
        if mm is None or n <= 0 or not hasattr(mmap, "MADV_WILLNEED"):
            return
        start = offset - offset % mmap.PAGESIZE
        end = min(self.size, offset + n)
        if end <= start:
            return
        try:
            if sequential and hasattr(mmap, "MADV_SEQUENTIAL"):
                mm.madvise(mmap.MADV_SEQUENTIAL, start, end - start)  # read ahead here again
            mm.madvise(mmap.MADV_WILLNEED, start, end - start)
        except (OSError, ValueError):  # pragma: no cover - advisory only
            pass

    def will_need_ranges(self, offsets: Sequence[int], n: int) -> None:
        """:meth:`will_need` (without read-ahead) of ``n`` bytes at each of `offsets`;
        ranges that touch the same pages are merged into one hint."""
        mm = self._mm
        if mm is None or n <= 0 or not len(offsets) or not hasattr(mmap, "MADV_WILLNEED"):
            return
        page = mmap.PAGESIZE
        lo = -1
        hi = -1
        for off in offsets:
            a = int(off) - int(off) % page
            b = min(self.size, int(off) + n)
            if lo <= a <= hi:  # overlaps or touches the pending one
                hi = max(hi, b)
                continue
            if hi > lo >= 0:
                self._advise(lo, hi - lo)
            lo, hi = a, b
        if hi > lo >= 0:
            self._advise(lo, hi - lo)

    def _advise(self, start: int, n: int) -> None:
        mm = self._mm
        if mm is None:
            return
        try:
            mm.madvise(mmap.MADV_WILLNEED, start, n)
        except (OSError, ValueError):  # pragma: no cover - advisory only
            pass

    def read(self, offset: int, n: int) -> Buffer:
        self._check(offset, n)
        if self._closed:
            raise self._closed_error(offset)
        mm = self._mm
        if mm is None:
            if n < self.MAP_MIN:
                return self._raw_read(offset, n)
            mm = self._map()
        return memoryview(mm)[offset : offset + n]

    def read_into_bytes(self, offset: int, n: int) -> bytes:
        self._check(offset, n)
        return self._raw_read(offset, n)

    def read_many(self, offsets: Sequence[int], n: int) -> bytes:
        """``n`` bytes at each of `offsets`, concatenated in order: one positional read
        each, without a Python-level call per read (the frame headers checked at open).

        Raises
        ------
        StoreError
            A range outside the file, a short read, an I/O error or a closed store.
        """
        if not len(offsets):
            return b""
        lo, hi = min(offsets), max(offsets)
        self._check(lo, n)
        self._check(hi, n)
        fd = self._fd
        if fd is None:
            raise self._closed_error(lo)
        if not _HAS_PREAD:  # pragma: no cover - Windows
            mm = self.buffer
            return b"".join([mm[o : o + n] for o in offsets])
        pread = os.pread
        try:
            data = b"".join([pread(fd, n, o) for o in offsets])
        except OSError as e:
            raise StoreError(f"{self._where()}read of {n} bytes failed ({e})", offset=lo) from e
        if len(data) != n * len(offsets):
            for o in offsets:  # the one that came back short raises, with its offset
                self._raw_read(o, n)
        return data

    def _raw_read(self, offset: int, n: int) -> bytes:
        fd = self._fd
        if fd is None:
            raise self._closed_error(offset)
        if not _HAS_PREAD:  # pragma: no cover - Windows
            return self.buffer[offset : offset + n]
        try:
            data = os.pread(fd, n, offset)
        except OSError as e:
            raise StoreError(f"{self._where()}read of {n} bytes failed ({e})", offset=offset) from e
        if len(data) != n:
            raise StoreError(f"{self._where()}short read: {len(data)} of {n} bytes (file truncated?)",
                             offset=offset)
        return data

    def close(self) -> None:
        # the memory map (if any) stays: numpy views handed out keep it alive (it is
        # unmapped when the last of them and this store are gone)
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

    def reopen(self) -> MmapStore:
        return MmapStore(self.path)


class LocalWritableStore(BaseStore):
    """A local file opened for reading and writing (writers, repair tools).

    Reads and writes are positional (``os.pread``/``os.pwrite``); no memory map, so
    :attr:`buffer` is None and :meth:`view` returns None.

    Thread safety: safe (positional I/O; the size is updated under a lock).

    Parameters
    ----------
    path : str or PathLike
    create : bool
        Create the file (truncating an existing one) instead of opening it.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self.path = os.fspath(path)
        flags = os.O_RDWR | _FLAGS | ((os.O_CREAT | os.O_TRUNC) if create else 0)
        self._fd: int | None = os.open(self.path, flags, 0o666)
        self.size = os.fstat(self._fd).st_size
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _live_fd(self, offset: int) -> int:
        fd = self._fd
        if fd is None:
            raise self._closed_error(offset)
        return fd

    def _raw_read(self, offset: int, n: int) -> bytes:
        fd = self._live_fd(offset)
        try:
            data = os.pread(fd, n, offset)
        except OSError as e:
            raise StoreError(f"{self._where()}read of {n} bytes failed ({e})", offset=offset) from e
        if len(data) != n:
            raise StoreError(f"{self._where()}short read: {len(data)} of {n} bytes", offset=offset)
        return data

    def write(self, offset: int, data: Buffer) -> None:
        if offset < 0:
            raise StoreError(f"{self._where()}write at a negative offset", offset=offset)
        fd = self._live_fd(offset)
        mv = memoryview(data).cast("B")
        try:
            done = 0
            while done < len(mv):
                done += os.pwrite(fd, mv[done:], offset + done)
        except OSError as e:
            raise StoreError(f"{self._where()}write of {len(mv)} bytes failed ({e})", offset=offset) from e
        with self._lock:
            self.size = max(self.size, offset + len(mv))

    def append(self, data: Buffer) -> int:
        with self._lock:
            at = self.size
            self.size += len(memoryview(data).cast("B"))
        self.write(at, data)
        return at

    def truncate(self, size: int) -> None:
        fd = self._live_fd(size)
        try:
            os.ftruncate(fd, size)
        except OSError as e:
            raise StoreError(f"{self._where()}truncate to {size} failed ({e})", offset=size) from e
        with self._lock:
            self.size = size

    def flush(self, fsync: bool = True) -> None:
        fd = self._live_fd(0)
        if fsync:
            os.fsync(fd)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def reopen(self) -> LocalWritableStore:
        return LocalWritableStore(self.path)

    def __del__(self) -> None:
        fd: Any = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass
