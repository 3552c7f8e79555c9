"""Typed errors raised by nd2kit.

Every error that comes from the bytes of a file carries the name of the chunk it
concerns (when known) and the absolute byte offset where the problem was found, so
that a user can look at the file with a hex editor or ``nd2kit inspect``.
"""

from __future__ import annotations

__all__ = [
    "Nd2Error",
    "CorruptChunkError",
    "ChunkNotFoundError",
    "UnsupportedFormatError",
    "StoreError",
]


class Nd2Error(Exception):
    """Base class of every error nd2kit raises about a file's content.

    Parameters
    ----------
    message : str
        What went wrong.
    chunk : str, optional
        Name of the chunk concerned (e.g. ``"ImageAttributesLV!"``).
    offset : int, optional
        Absolute byte offset in the file (or in the buffer being decoded when no
        file position is known) where the problem was found.
    field : str, optional
        Path of the value concerned inside the chunk's decoded metadata (e.g.
        ``"SLxImageAttributes.uiHeight"``).
    """

    def __init__(
        self, message: str, *, chunk: str | None = None, offset: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.chunk = chunk
        self.offset = offset
        self.field = field
        super().__init__(message)

    def __str__(self) -> str:
        where = []
        if self.chunk is not None:
            where.append(f"chunk {self.chunk!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        if self.offset is not None:
            where.append(f"offset {self.offset} (0x{self.offset:X})")
        return f"{self.message} [{', '.join(where)}]" if where else self.message

    def at(self, chunk: str | None = None, base: int = 0) -> Nd2Error:
        """Return a copy located in a file: set `chunk` and shift `offset` by `base`."""
        off = None if self.offset is None else self.offset + base
        err = type(self).__new__(type(self))
        Nd2Error.__init__(err, self.message, chunk=chunk or self.chunk, offset=off,
                          field=self.field)
        return err


class CorruptChunkError(Nd2Error, ValueError):
    """The bytes do not follow the layout their spec describes (truncated, bad
    magic, impossible length, bad type code, ...)."""


class ChunkNotFoundError(Nd2Error, KeyError):
    """A chunk that is required (or was asked for by name) is not in the chunk map."""

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return Nd2Error.__str__(self)


class UnsupportedFormatError(Nd2Error):
    """The file is valid but uses a feature nd2kit cannot decode (e.g. lossy frames,
    or a format generation not supported yet)."""


class StoreError(Nd2Error, OSError):
    """Reading (or writing) the bytes failed: a range outside the file, a short read,
    an I/O error of the underlying file, or a closed store. ``offset`` is where the
    read started. This is about the byte source, not the file's structure: readers
    check chunk ranges themselves and raise :class:`CorruptChunkError` for those."""
