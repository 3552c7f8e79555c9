"""Bytes in memory: :class:`BytesStore` (read-only) and :class:`MemoryStore` (writable)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..errors import StoreError
from ._base import BaseStore
from .protocol import Buffer, Range, RangePolicy

__all__ = ["BytesStore", "MemoryStore"]


class BytesStore(BaseStore):
    """``bytes`` / ``bytearray`` / ``memoryview`` already in memory; zero-copy views.

    Thread safety: safe (reads are slices of an immutable view).
    """

    def __init__(self, data: bytes | bytearray | memoryview, path: str = "") -> None:
        self._mv = memoryview(data).cast("B").toreadonly()
        self.size = len(self._mv)
        self.path = path
        self._closed = False

    @property
    def buffer(self) -> memoryview:
        return self._mv

    @property
    def closed(self) -> bool:
        return self._closed

    def _raw_read(self, offset: int, n: int) -> memoryview:
        return self._mv[offset : offset + n]

    def read(self, offset: int, n: int) -> memoryview:
        self._check(offset, n)
        return self._mv[offset : offset + n]

    def view(self, offset: int, n: int) -> memoryview:
        self._check(offset, n)
        return self._mv[offset : offset + n]

    def read_ranges(self, ranges: Sequence[Range], policy: RangePolicy | None = None) -> list[Buffer]:
        """Zero-copy views of every range (nothing to coalesce in memory)."""
        for off, n in ranges:
            self._check(off, n)
        mv = self._mv
        return [mv[off : off + n] for off, n in ranges]

    def close(self) -> None:
        self._closed = True

    def reopen(self) -> BytesStore:
        return BytesStore(self._mv, self.path)


class MemoryStore(BaseStore):
    """A growable in-memory file (``bytearray``), readable and writable.

    :attr:`buffer` is None (the bytearray may be reallocated by writes), reads
    return ``bytes`` copies.

    Thread safety: safe (every access holds a lock).
    """

    def __init__(self, data: Buffer | bytearray = b"", path: str = "") -> None:
        self._data = bytearray(data)
        self.size = len(self._data)
        self.path = path
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def getvalue(self) -> bytes:
        """The whole content as ``bytes``."""
        with self._lock:
            return bytes(self._data)

    def _raw_read(self, offset: int, n: int) -> bytes:
        with self._lock:
            if self._closed:
                raise self._closed_error(offset)
            return bytes(self._data[offset : offset + n])

    def write(self, offset: int, data: Buffer) -> None:
        if offset < 0:
            raise StoreError("write at a negative offset", offset=offset)
        mv = memoryview(data).cast("B")
        with self._lock:
            if self._closed:
                raise self._closed_error(offset)
            if offset > len(self._data):
                self._data.extend(bytes(offset - len(self._data)))
            self._data[offset : offset + len(mv)] = mv
            self.size = len(self._data)

    def append(self, data: Buffer) -> int:
        with self._lock:
            at = len(self._data)
        self.write(at, data)
        return at

    def truncate(self, size: int) -> None:
        with self._lock:
            if size < len(self._data):
                del self._data[size:]
            else:
                self._data.extend(bytes(size - len(self._data)))
            self.size = size

    def flush(self, fsync: bool = True) -> None:
        if self._closed:
            raise self._closed_error(0)

    def close(self) -> None:
        self._closed = True

    def reopen(self) -> MemoryStore:
        return MemoryStore(self.getvalue(), self.path)
