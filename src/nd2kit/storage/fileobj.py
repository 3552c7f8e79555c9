"""Binary file objects: :class:`FileStore`."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from ..errors import StoreError
from ._base import BaseStore

__all__ = ["FileStore"]


class FileStore(BaseStore):
    """Any binary file-like object with ``seek``/``read`` (``io.BytesIO``, ``open(..., "rb")``).

    Thread safety: safe; every read (seek + read) holds a lock, so reads from several
    threads are serialised.

    Parameters
    ----------
    fh : binary file object
    path : str
        Shown in messages and used by :meth:`reopen` when it names a local file.
    owns : bool
        :meth:`close` closes `fh` (otherwise the caller's object is left open).
    """

    def __init__(self, fh: IO[bytes], path: str = "", *, owns: bool = False) -> None:
        import threading

        self._fh = fh
        self._lock = threading.Lock()
        self._owns = owns
        self._closed = False
        self.path = path or str(getattr(fh, "name", "") or getattr(fh, "path", ""))
        try:
            with self._lock:
                self.size = fh.seek(0, 2)
        except (OSError, ValueError) as e:
            raise StoreError(f"{self._where()}cannot seek the file object ({e})", offset=0) from e

    @property
    def closed(self) -> bool:
        return self._closed or bool(getattr(self._fh, "closed", False))

    def _raw_read(self, offset: int, n: int) -> bytes:
        return self._seek_read(self._fh, self._lock, offset, n)

    def close(self) -> None:
        self._closed = True
        if self._owns:
            self._fh.close()

    def reopen(self) -> FileStore:
        if self.path and Path(self.path).is_file():
            return FileStore(open(self.path, "rb"), self.path, owns=True)  # noqa: SIM115
        raise StoreError("a store made from a file object cannot be reopened", offset=0)
