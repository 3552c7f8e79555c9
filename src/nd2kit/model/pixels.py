"""Pixel rules, one place each: the sample type and the row stride of a frame.

Every layer that needs a frame's numpy dtype (the reader, the typed attributes, the
limnd2-compatible structures, the tools) calls :func:`pixel_dtype`; every layer that
computes how many bytes a row takes when nothing says otherwise calls
:func:`row_stride`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["PIXEL_TYPE_SIGNED", "PIXEL_TYPE_UNSIGNED", "PIXEL_TYPE_FLOAT", "ROW_ALIGN",
           "pixel_dtype", "row_stride"]

#: ``ePixelType`` values: how the bits of one component are interpreted
PIXEL_TYPE_SIGNED = 0
PIXEL_TYPE_UNSIGNED = 1
PIXEL_TYPE_FLOAT = 2
#: NIS-Elements (and limnd2's writer) round every stored row up to this many bytes
ROW_ALIGN = 4


@lru_cache(maxsize=64)
def pixel_dtype(bits: int, pixel_type: int | None) -> np.dtype:
    """Little-endian numpy dtype of one component.

    Parameters
    ----------
    bits : int
        ``uiBpcInMemory``: the container size of one component in bits.
    pixel_type : int or None
        ``ePixelType`` (0 signed, 1 unsigned, 2 float). Files without it follow the rule
        both nd2 and limnd2 apply: 32 bits are float32, anything else unsigned.

    Returns
    -------
    numpy.dtype
        ``<u1``/``<u2``/``<u4``/``<u8``, ``<i1`` … ``<i8``, ``<f2``/``<f4``/``<f8``, or a
        void type ``V<n>`` for container sizes numpy has no number type for (24 bits).
    """
    size = max(bits // 8, 1)
    if pixel_type == PIXEL_TYPE_FLOAT or (pixel_type is None and bits == 32):
        kind = "f"
    elif pixel_type == PIXEL_TYPE_SIGNED:
        kind = "i"
    else:
        kind = "u"
    try:
        return np.dtype(f"<{kind}{size}")
    except TypeError:
        return np.dtype(f"V{size}")


def row_stride(width: int, components: int, bytes_per_component: int,
               align: int = ROW_ALIGN) -> int:
    """Bytes of one stored row: ``width × components × bytes_per_component`` rounded up
    to a multiple of `align` (4, as NIS writes rows; 1 for unpadded rows)."""
    n = width * components * bytes_per_component
    return -(-n // align) * align
