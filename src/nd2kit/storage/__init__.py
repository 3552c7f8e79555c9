"""Storage: where a file's bytes come from (first stage of the data flow).

Everything above this package reads bytes only through a store; nothing here
interprets them.
"""

from __future__ import annotations

from .stores import BytesStore, FileStore, MmapStore, Store, is_url, open_store

__all__ = ["BytesStore", "FileStore", "MmapStore", "Store", "is_url", "open_store"]
