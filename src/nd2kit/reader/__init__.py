"""Readers: chunks, raw metadata dicts and frames of one file, over a store.

:func:`open_reader` picks the implementation from the file's first bytes; no module
outside this package names an implementation class.
"""

from __future__ import annotations

from .modern import FRAME_PREFIX, FrameLayout, ModernReader, pixel_dtype

__all__ = ["FRAME_PREFIX", "FrameLayout", "ModernReader", "pixel_dtype"]
