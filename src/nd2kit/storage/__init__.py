"""Storage: where a file's bytes come from (first stage of the data flow).

Everything above this package reads bytes only through a :class:`Store`
(:mod:`.protocol`); nothing here interprets them.

* :class:`MmapStore` (``local``) — a local path: ``pread`` + lazy read-only memory map;
* :class:`BytesStore` / :class:`MemoryStore` (``memory``) — bytes in memory
  (read-only / writable);
* :class:`FileStore` (``fileobj``) — a binary file object;
* :class:`RemoteStore` (``remote``) — an fsspec URL;
* :class:`LocalWritableStore` (``local``) — a local file opened for writing.
"""

from __future__ import annotations

import os
from typing import Any

from .fileobj import FileStore
from .local import LocalWritableStore, MmapStore
from .memory import BytesStore, MemoryStore
from .protocol import DEFAULT_POLICY, RangePolicy, Store, WritableStore
from .remote import RemoteStore, is_url

__all__ = ["BytesStore", "DEFAULT_POLICY", "FileStore", "LocalWritableStore", "MemoryStore",
           "MmapStore", "RangePolicy", "RemoteStore", "Store", "WritableStore", "is_url",
           "open_store"]


def open_store(source: Any, *, storage_options: dict[str, Any] | None = None) -> Store:
    """Make a store from a path, URL, bytes-like object, binary file object (or a store).

    Raises
    ------
    StoreError
        The file cannot be opened.
    TypeError
        `source` is none of the above.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BytesStore(source)
    if isinstance(source, str) and source.startswith("file://"):
        return MmapStore(source[len("file://"):])
    if is_url(source):
        return RemoteStore(str(source), storage_options)
    if isinstance(source, (str, os.PathLike)):
        return MmapStore(source)
    if isinstance(source, Store):
        return source
    if hasattr(source, "read") and hasattr(source, "seek"):
        return FileStore(source)
    raise TypeError(f"cannot read an ND2 file from {type(source).__name__}")
