"""Pixel rules, one place each: the sample type and the row stride of a frame.

Every layer that needs a frame's numpy dtype (the reader, the typed attributes, the
limnd2-compatible structures, the tools) calls :func:`pixel_dtype`; every layer that
computes how many bytes a row takes when nothing says otherwise calls
:func:`row_stride`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import CorruptChunkError
from . import limits
from ._coerce import checked_int

__all__ = ["PIXEL_TYPE_SIGNED", "PIXEL_TYPE_UNSIGNED", "PIXEL_TYPE_FLOAT", "ROW_ALIGN",
           "ATTRIBUTES_ROOT", "FrameGeometry", "frame_geometry", "pixel_dtype", "row_stride"]

#: ``ePixelType`` values: how the bits of one component are interpreted
PIXEL_TYPE_SIGNED = 0
PIXEL_TYPE_UNSIGNED = 1
PIXEL_TYPE_FLOAT = 2
#: NIS-Elements (and limnd2's writer) round every stored row up to this many bytes
ROW_ALIGN = 4
#: root record of the image attributes: the prefix of their field paths in errors
ATTRIBUTES_ROOT = "SLxImageAttributes"
#: components per pixel accepted (NIS writes 1 .. a few dozen spectral components)
MAX_COMPONENTS = 1 << 16
#: container bits of one component accepted (numpy has no larger number type)
MAX_BITS = 64
_INT32 = (-(1 << 31), (1 << 32) - 1)  # an enum field: any 32-bit value (signed or not)


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


@dataclass(frozen=True)
class FrameGeometry:
    """Checked frame geometry and sample type of a file (see :func:`frame_geometry`).

    Attributes
    ----------
    height, width, components : int
        Frame size and interleaved components (``uiHeight``, ``uiWidth``, ``uiComp``).
    stride : int
        Bytes per stored row (``uiWidthBytes``, or the unpadded row when 0 / absent).
    dtype : numpy.dtype
        Little-endian sample type.
    compression : int
        ``eCompression``: 0 lossless zlib, 1 lossy, anything else uncompressed.
    """

    height: int
    width: int
    components: int
    stride: int
    dtype: np.dtype
    compression: int

    @property
    def nbytes(self) -> int:
        """Bytes of one frame's pixel block (rows including their padding)."""
        return self.height * self.stride


def frame_geometry(raw_attrs: Mapping[str, Any], *, chunk: str | None = None,
                   offset: int | None = None, file_size: int | None = None) -> FrameGeometry:
    """Frame geometry from ``SLxImageAttributes``, checked at the model boundary.

    Every value is checked for type and range (:func:`~nd2kit.model._coerce.checked_int`),
    and the frame against the file (:mod:`nd2kit.model.limits`): an uncompressed
    frame's pixel block must fit in the file, a compressed one may not exceed
    :func:`~nd2kit.model.limits.alloc_limit` of the file size. Done once per file.

    Parameters
    ----------
    raw_attrs : Mapping
        Decoded image attributes (root unwrapped).
    chunk : str, optional
        Name of the attributes chunk, for errors.
    offset : int, optional
        Offset of the attributes chunk in the file, for errors.
    file_size : int, optional
        Size of the file; None skips the checks against the file.

    Returns
    -------
    FrameGeometry

    Raises
    ------
    CorruptChunkError
        A required key is missing, a value has the wrong type or range, the row stride
        is shorter than a row, or the frame cannot be held by the file.
    """
    def get(key: str, lo: int, hi: int, default: Any = None) -> int:
        field = f"{ATTRIBUTES_ROOT}.{key}"
        value = raw_attrs.get(key, default)
        if value is None:
            raise CorruptChunkError(f"image attributes lack {key}", chunk=chunk, field=field,
                                    offset=offset)
        return checked_int(value, chunk=chunk, field=field, lo=lo, hi=hi, offset=offset)

    if not isinstance(raw_attrs, Mapping):
        raise CorruptChunkError("image attributes are not a record", chunk=chunk, offset=offset,
                                field=ATTRIBUTES_ROOT)
    width = get("uiWidth", 1, limits.MAX_DIM)
    height = get("uiHeight", 1, limits.MAX_DIM)
    comp = get("uiComp", 1, MAX_COMPONENTS)
    bits = get("uiBpcInMemory", 1, MAX_BITS)
    ptype = raw_attrs.get("ePixelType")
    if ptype is not None:
        ptype = get("ePixelType", *_INT32)
    ecomp = get("eCompression", *_INT32, default=2)
    dt = pixel_dtype(bits, ptype)
    row = width * comp * dt.itemsize
    stride = get("uiWidthBytes", 0, limits.MAX_DIM, default=0) or row
    if stride < row:
        raise CorruptChunkError(
            f"uiWidthBytes {stride} < width {width} x {comp} components x {dt.itemsize} bytes",
            chunk=chunk, field=f"{ATTRIBUTES_ROOT}.uiWidthBytes", offset=offset)
    geo = FrameGeometry(height, width, comp, stride, dt, ecomp)
    if file_size is not None:
        nbytes = geo.nbytes
        most = file_size if ecomp not in (0, 1) else limits.alloc_limit(file_size)
        if nbytes > most or stride > limits.alloc_limit(file_size):
            how = ("it would run past the end of the file" if ecomp not in (0, 1)
                   else "more than a compressed frame of this file can inflate to")
            raise CorruptChunkError(
                f"a frame of {height} rows x {stride} bytes ({nbytes} bytes) cannot be held by "
                f"a file of {file_size} bytes: {how}", chunk=chunk,
                field=f"{ATTRIBUTES_ROOT}.uiHeight", offset=offset)
    return geo
