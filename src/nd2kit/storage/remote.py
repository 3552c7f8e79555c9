"""Remote objects through fsspec (``s3://``, ``https://``, ``memory://`` ...): :class:`RemoteStore`."""

from __future__ import annotations

import re
import threading
from typing import Any

from ..errors import StoreError
from ._base import BaseStore

__all__ = ["RemoteStore", "is_url"]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+\-.]+://")
#: block size of the buffered handle that serves small (metadata) reads
BLOCK_SIZE = 512 * 1024


def is_url(path: Any) -> bool:
    """True for strings with a URL scheme (``s3://``, ``https://``, ``file://`` ...)."""
    return isinstance(path, str) and "://" in path and bool(_URL.match(path))


class RemoteStore(BaseStore):
    """An fsspec URL.

    Small reads go through one buffered fsspec file (blocks of 512 KiB, so reading
    the metadata at open costs a request or two). :meth:`read_ranges` reads every
    merged span with its own ranged request (``fs.cat_file``), on up to
    ``policy.workers`` threads.

    Thread safety: safe; the buffered handle is used under a lock, ranged requests
    need none.

    Parameters
    ----------
    url : str
    storage_options : dict, optional
        Passed to ``fsspec.core.url_to_fs``.
    """

    _concurrent = True

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        try:
            import fsspec
        except ImportError as e:  # pragma: no cover - depends on extras
            raise StoreError("opening URLs needs fsspec: pip install 'nd2kit[remote]'", offset=0) from e
        self.path = url
        self._url = url
        self._storage_options = storage_options
        try:
            self._fs, self._fpath = fsspec.core.url_to_fs(url, **(storage_options or {}))
            self._fh = self._fs.open(self._fpath, "rb", block_size=BLOCK_SIZE)
            self.size = int(self._fh.size if getattr(self._fh, "size", None) is not None
                            else self._fh.seek(0, 2))
        except (OSError, ValueError) as e:
            raise StoreError(f"{url}: cannot open ({e})", offset=0) from e
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _raw_read(self, offset: int, n: int) -> bytes:
        return self._seek_read(self._fh, self._lock, offset, n)

    def _span_read(self, offset: int, n: int) -> bytes:
        return self._checked(offset, n,
                             lambda: self._fs.cat_file(self._fpath, start=offset, end=offset + n))

    def close(self) -> None:
        self._closed = True
        self._fh.close()

    def reopen(self) -> RemoteStore:
        return RemoteStore(self._url, self._storage_options)
