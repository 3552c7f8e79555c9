"""Readers: chunks, raw metadata dicts and frames of one file, over a store.

:func:`open_reader` picks the implementation from the file's first bytes; no module
outside this package names an implementation class.
"""

from __future__ import annotations

from ..codecs import container
from ..errors import CorruptChunkError, UnsupportedFormatError
from ..model.pixels import pixel_dtype
from ..storage.protocol import Store
from .modern import FRAME_PREFIX, FrameLayout
from .protocol import Reader

__all__ = ["FRAME_PREFIX", "FrameLayout", "Reader", "open_reader", "pixel_dtype"]


def open_reader(store: Store) -> Reader:
    """The reader for the file in `store`, chosen from its first bytes.

    Raises
    ------
    UnsupportedFormatError
        Not an ND2 file, or a legacy JPEG 2000 (version 1.0) file (not supported yet).
    CorruptChunkError
        Empty or damaged file.
    """
    if store.size == 0:
        raise CorruptChunkError("file is empty", offset=0)
    head = store.read_into_bytes(0, min(store.size, 4096))
    major, _ = container.sniff_version(head)
    if major < 2:
        raise UnsupportedFormatError(
            "legacy JPEG 2000 ND2 (version 1.0) files are not supported yet", offset=0)
    from .modern import ModernReader

    return ModernReader(store, head)
