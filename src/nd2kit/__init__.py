"""nd2kit — Nikon NIS-Elements .nd2 files, from Kaitai Struct specs to numpy.

Two API layers over one reader:

* nd2-compatible: :class:`ND2File`, :func:`imread`, :func:`is_supported_file`,
  :func:`is_legacy` (same names and values as nd2 0.12);
* limnd2-compatible: :class:`Nd2Reader` (limnd2's camelCase names).
"""

from __future__ import annotations

from typing import Any

from .compat.nd2file import ND2File, imread, is_legacy, is_supported_file
from .errors import (
    ChunkNotFoundError,
    CorruptChunkError,
    Nd2Error,
    StoreError,
    UnsupportedFormatError,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "ChunkNotFoundError",
    "CorruptChunkError",
    "ND2File",
    "Nd2Error",
    "Nd2Reader",
    "StoreError",
    "UnsupportedFormatError",
    "__version__",
    "imread",
    "is_legacy",
    "is_supported_file",
]


def __getattr__(name: str) -> Any:
    # the limnd2-compatible layer is imported on first use
    if name == "Nd2Reader":
        from .compat.nd2reader import Nd2Reader

        return Nd2Reader
    raise AttributeError(f"module 'nd2kit' has no attribute {name!r}")
