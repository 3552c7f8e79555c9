"""nd2kit — Nikon NIS-Elements .nd2 files, from Kaitai Struct specs to numpy."""

from __future__ import annotations

from .errors import ChunkNotFoundError, CorruptChunkError, Nd2Error, UnsupportedFormatError

__version__ = "0.1.0.dev0"

__all__ = [
    "ChunkNotFoundError",
    "CorruptChunkError",
    "Nd2Error",
    "UnsupportedFormatError",
    "__version__",
]
