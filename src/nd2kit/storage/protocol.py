"""What a byte store is: the :class:`Store` and :class:`WritableStore` protocols.

A store gives random access to the bytes of one file and nothing else: it never
interprets them. Everything above :mod:`nd2kit.storage` reads a file only through
these protocols, so a local file, bytes in memory, a file object and a remote
object (fsspec) are interchangeable.

Errors
------
Every failing read (range outside the file, short read, I/O error, closed store)
raises :class:`nd2kit.errors.StoreError` carrying the offset of the read. Stores
never raise ``CorruptChunkError``: deciding that the file's *structure* is wrong
(a chunk pointing past the end, ...) is the reader's job, which checks ranges
against :attr:`Store.size` before reading.

Thread safety
-------------
Each implementation states it in its docstring; all stores shipped with nd2kit may
be read from several threads at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Store", "WritableStore", "RangePolicy", "DEFAULT_POLICY", "Buffer", "Range"]

#: what a read returns: ``bytes`` or a read-only ``memoryview`` of the file
Buffer = bytes | memoryview
#: ``(offset, n)``: `n` bytes starting at `offset`
Range = tuple[int, int]


@dataclass(frozen=True)
class RangePolicy:
    """How :meth:`Store.read_ranges` coalesces and schedules reads.

    Attributes
    ----------
    max_gap : int
        Two ranges separated by at most this many bytes are read with one
        underlying read (the gap is read and dropped).
    max_merged : int
        A merged read never grows beyond this many bytes (a single range larger
        than this is still read in one go).
    workers : int
        Merged reads run on up to this many threads where the store benefits
        from it (remote stores); 1 = sequential.
    """

    max_gap: int = 64 * 1024
    max_merged: int = 16 * 1024 * 1024
    workers: int = 8


DEFAULT_POLICY = RangePolicy()


@runtime_checkable
class Store(Protocol):
    """Random read access to the bytes of one file.

    Attributes
    ----------
    path : str
        Path or URL the bytes came from (``""`` for in-memory data).
    size : int
        File size in bytes.
    buffer : buffer or None
        The whole file as one buffer-protocol object when the store has one
        (memory map, bytes), which lets frame readers build numpy views without
        copying; None otherwise.
    """

    path: str
    size: int

    @property
    def buffer(self) -> Any:
        """The whole file as a buffer (zero-copy access), or None."""

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (or the underlying file was closed)."""

    def read(self, offset: int, n: int) -> Buffer:
        """`n` bytes at `offset` (a read-only memoryview when zero-copy is possible).

        Raises
        ------
        StoreError
            The range is outside ``0 .. size``, the store is closed, or the read failed.
        """

    def read_into_bytes(self, offset: int, n: int) -> bytes:
        """Like :meth:`read` but always ``bytes``."""

    def read_ranges(self, ranges: Sequence[Range], policy: RangePolicy | None = None) -> list[Buffer]:
        """Read several ``(offset, n)`` ranges; results in the order given.

        Nearby ranges are coalesced into fewer underlying reads following `policy`
        (default :data:`DEFAULT_POLICY`); remote stores run the merged reads
        concurrently. Every range is checked first: one bad range raises
        :class:`StoreError` before anything is read.
        """

    def view(self, offset: int, n: int) -> memoryview | None:
        """A zero-copy read-only view of `n` bytes at `offset`, or None when the store
        cannot give one (file objects, remote stores)."""

    def close(self) -> None:
        """Release the file. Views handed out earlier stay valid where the store
        gives views (the memory map lives as long as they do)."""

    def reopen(self) -> Store:
        """A fresh store on the same source (used after unpickling)."""


@runtime_checkable
class WritableStore(Store, Protocol):
    """A store that can also be written (for writers and repair tools).

    Writes past the end extend the file (the gap, if any, is zero-filled).
    """

    def write(self, offset: int, data: Buffer) -> None:
        """Write `data` at `offset`."""

    def append(self, data: Buffer) -> int:
        """Write `data` at the end; return the offset it was written at."""

    def truncate(self, size: int) -> None:
        """Cut (or zero-extend) the file to `size` bytes."""

    def flush(self, fsync: bool = True) -> None:
        """Push buffered writes to the file; with `fsync`, to the disk."""
