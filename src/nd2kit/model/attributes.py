"""Image attributes (``SLxImageAttributes``, docs/format.md, "Frame pixels").

Also home of two small helpers shared by the other builders of
:mod:`nd2kit.model`: :func:`collect_unknown` (the "unknown keys" walker) and
:func:`byte_array` (normalisation of BYTEARRAY values from both encodings).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from . import limits
from ._coerce import MAP_TYPES as _MAP
from ._coerce import as_int as _int
from ._coerce import checked_int
from .pixels import (
    ATTRIBUTES_ROOT,
    MAX_BITS,
    MAX_COMPONENTS,
    PIXEL_TYPE_FLOAT,
    PIXEL_TYPE_SIGNED,
    PIXEL_TYPE_UNSIGNED,
    pixel_dtype,
)
from .structures import Attributes, CompressionType, PixelDataType

__all__ = [
    "ATTRIBUTE_RANGES",
    "KNOWN_ATTRIBUTE_KEYS",
    "REQUIRED_ATTRIBUTE_KEYS",
    "attribute_ints",
    "byte_array",
    "collect_unknown",
    "load_attributes",
    "numpy_dtype",
    "pixel_data_type",
    "unknown_keys",
]

#: Keys of ``SLxImageAttributes`` that :func:`load_attributes` reads.
#: keys every ``SLxImageAttributes`` must have (nd2 0.12 fails without any of them)
REQUIRED_ATTRIBUTE_KEYS = (
    "uiWidth",
    "uiWidthBytes",
    "uiHeight",
    "uiComp",
    "uiBpcInMemory",
    "uiBpcSignificant",
    "uiSequenceCount",
)
KNOWN_ATTRIBUTE_KEYS = frozenset(
    {
        *REQUIRED_ATTRIBUTE_KEYS,
        "uiTileWidth",
        "uiTileHeight",
        "eCompression",
        "dCompressionParam",
        "ePixelType",
    }
)


_INT32 = (-(1 << 31), (1 << 32) - 1)
#: allowed range of every integer attribute the model, the reader and the compat layers
#: use (checked where a value enters the model: :func:`attribute_ints`)
ATTRIBUTE_RANGES: dict[str, tuple[int, int]] = {
    "uiWidth": (0, limits.MAX_DIM),
    "uiWidthBytes": (0, limits.MAX_DIM),
    "uiHeight": (0, limits.MAX_DIM),
    "uiComp": (0, MAX_COMPONENTS),
    "uiBpcInMemory": (0, MAX_BITS),
    "uiBpcSignificant": (0, 255),
    "uiSequenceCount": (0, (1 << 32) - 1),
    "uiTileWidth": _INT32,
    "uiTileHeight": _INT32,
    "uiVirtualComponents": _INT32,
    "eCompression": _INT32,
    "ePixelType": _INT32,
}


def attribute_ints(raw_attrs: Mapping[str, Any], *, chunk: str | None = None,
                   offset: int | None = None) -> dict[str, int]:
    """The integer attributes present in `raw_attrs`, each checked for type and range.

    Parameters
    ----------
    raw_attrs : Mapping
        Decoded ``SLxImageAttributes``.
    chunk : str, optional
        Name of the attributes chunk, for errors.
    offset : int, optional
        Offset of the chunk in the file, for errors.

    Returns
    -------
    dict
        ``key -> int`` for the keys of :data:`ATTRIBUTE_RANGES` present (and not None).

    Raises
    ------
    CorruptChunkError
        A value is not an integer or lies outside its range (see
        :data:`ATTRIBUTE_RANGES`); the error names the chunk and the field path
        (``SLxImageAttributes.<key>``).
    """
    if not isinstance(raw_attrs, _MAP):
        from ..errors import CorruptChunkError

        raise CorruptChunkError("image attributes are not a record", chunk=chunk, offset=offset,
                                field=ATTRIBUTES_ROOT)
    out: dict[str, int] = {}
    get = raw_attrs.get
    for key, (lo, hi) in ATTRIBUTE_RANGES.items():
        value = get(key)
        if value is not None:
            out[key] = checked_int(value, chunk=chunk, field=f"{ATTRIBUTES_ROOT}.{key}", lo=lo, hi=hi,
                                   offset=offset)
    return out


_COMPRESSION: dict[int, CompressionType] = {0: "lossless", 1: "lossy"}
_PIXEL_TYPES: dict[int, PixelDataType] = {0: "signed", 1: "unsigned", 2: "float"}


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------

#: A schema for :func:`collect_unknown`: key -> ``None`` (the whole value is
#: understood) or a nested schema; the key ``"*"`` applies to every key of a
#: mapping (list items, planes, …) that has no explicit entry.
Schema = Mapping[str, Any]


def _walk(raw: Any, schema: Schema | None, path: str) -> Iterator[tuple[str, Any]]:
    if schema is None or not isinstance(raw, _MAP):
        return
    wildcard = schema.get("*", False)
    for key, value in raw.items():
        key_s = str(key)
        if key_s in schema and key_s != "*":
            sub = schema[key_s]
        elif wildcard is not False:
            sub = wildcard
        else:
            yield (f"{path}/{key_s}" if path else key_s), value
            continue
        yield from _walk(value, sub, f"{path}/{key_s}" if path else key_s)


def collect_unknown(raw: Any, schema: Schema | None, path: str = "") -> dict[str, Any]:
    """Return the entries of a decoded tree that a schema does not cover.

    Parameters
    ----------
    raw : Any
        Decoded chunk (nested dicts).  Non-mappings yield nothing.
    schema : Mapping or None
        ``{key: None}`` marks a key (and everything below it) as understood,
        ``{key: {...}}`` descends, ``{"*": ...}`` applies to any other key.
        ``None`` means "everything understood".
    path : str, optional
        Prefix of the reported paths.

    Returns
    -------
    dict
        ``"a/b/c" -> value`` for every key not covered, in tree order.
    """
    return dict(_walk(raw, schema, path))


def _b64_or_raw(data: bytes) -> bytes:
    text = data.strip()
    if not text:
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return data


def byte_array(value: Any) -> bytes | None:
    """Normalise a BYTEARRAY value to raw bytes.

    LiteVariant BYTEARRAYs arrive as a list of ints; the XML variant keeps
    ``CLxByteArray`` values as the base64 *text* (docs/format.md, "XML variant"), which is
    decoded here.

    Parameters
    ----------
    value : Any
        ``list[int]``, ``bytes``/``bytearray`` (base64 text) or anything else.

    Returns
    -------
    bytes or None
        None when `value` is not a byte array.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _b64_or_raw(bytes(value))
    if isinstance(value, (list, tuple)):
        try:
            return bytes(value)  # ints 0..255 (what the decoders produce)
        except (TypeError, ValueError):
            pass
        try:
            return bytes(int(v) & 0xFF for v in value)
        except (TypeError, ValueError):
            return None
    return None




# ---------------------------------------------------------------------------
# attributes
# ---------------------------------------------------------------------------


def pixel_data_type(raw_attrs: Mapping[str, Any]) -> PixelDataType:
    """Sample interpretation of a frame.

    ``ePixelType`` decides when present (0 signed, 1 unsigned, 2 float, see
    docs/format.md, "Frame pixels"); without it a 32-bit container means float,
    anything else unsigned (the only rule nd2 0.12 applies, even when
    ``ePixelType`` says otherwise).

    Parameters
    ----------
    raw_attrs : Mapping
        Decoded ``SLxImageAttributes``.

    Returns
    -------
    {"float", "unsigned", "signed"}
    """
    code = raw_attrs.get("ePixelType")
    if code is not None and _int(code, -1) in _PIXEL_TYPES:
        return _PIXEL_TYPES[_int(code)]
    return "float" if _int(raw_attrs.get("uiBpcInMemory")) == 32 else "unsigned"


def load_attributes(raw_attrs: Mapping[str, Any], n_channels: int, *, chunk: str | None = None,
                    offset: int | None = None) -> Attributes:
    """Build :class:`~nd2kit.model.structures.Attributes` from ``SLxImageAttributes``.

    Parameters
    ----------
    raw_attrs : Mapping
        Decoded attributes chunk (root already unwrapped).
    n_channels : int
        Number of picture planes (``sPicturePlanes.uiCount`` of the picture
        metadata, 1 when absent); see :func:`nd2kit.model.metadata.channel_count`.
    chunk : str, optional
        Name of the attributes chunk (e.g. ``"ImageAttributesLV!"``), for errors.
    offset : int, optional
        Offset of the chunk in the file, for errors.

    Returns
    -------
    Attributes
        Equal to nd2 0.12's value, except that ``pixelDataType`` follows
        ``ePixelType`` (signed and 32-bit integer samples, docs/format.md, "Frame pixels").
        Missing required keys default to 0 instead of raising.

    Raises
    ------
    CorruptChunkError
        An integer attribute has the wrong type or range (:func:`attribute_ints`).
    """
    ints = attribute_ints(raw_attrs, chunk=chunk, offset=offset)
    get = ints.get
    bpc = get("uiBpcInMemory", 0)
    width = get("uiWidth", 0)
    height = get("uiHeight", 0)

    ecomp = get("eCompression", 2)
    comp_type = _COMPRESSION.get(ecomp)
    comp_level = raw_attrs.get("dCompressionParam") if comp_type is not None else None

    tile_w, tile_h = get("uiTileWidth", 0), get("uiTileHeight", 0)
    # tiles are only reported when smaller than the frame
    untiled = (tile_w <= 0 or tile_w == width) and (tile_h <= 0 or tile_h == height)
    ptype = get("ePixelType")
    pdt: PixelDataType = (_PIXEL_TYPES[ptype] if ptype in _PIXEL_TYPES
                          else "float" if bpc == 32 else "unsigned")

    return Attributes(
        bitsPerComponentInMemory=bpc,
        bitsPerComponentSignificant=get("uiBpcSignificant", 0),
        componentCount=get("uiComp", 0),
        heightPx=height,
        pixelDataType=pdt,
        sequenceCount=get("uiSequenceCount", 0),
        widthBytes=get("uiWidthBytes", 0),
        widthPx=width,
        compressionLevel=comp_level,
        compressionType=comp_type,
        tileHeightPx=None if untiled else tile_h,
        tileWidthPx=None if untiled else tile_w,
        channelCount=n_channels,
    )


def numpy_dtype(attrs: Attributes) -> np.dtype:
    """Little-endian numpy dtype of one sample component.

    Parameters
    ----------
    attrs : Attributes

    Returns
    -------
    numpy.dtype
        ``<u1``/``<u2``/``<u4``, ``<i1``/``<i2``/``<i4`` or ``<f4``/``<f8``;
        a void type ``V<n>`` for container sizes numpy has no number type for.
    """
    return pixel_dtype(int(attrs.bitsPerComponentInMemory), _PIXEL_TYPE_CODES[attrs.pixelDataType])


_PIXEL_TYPE_CODES = {"float": PIXEL_TYPE_FLOAT, "signed": PIXEL_TYPE_SIGNED, "unsigned": PIXEL_TYPE_UNSIGNED}


def unknown_keys(raw_attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Entries of ``SLxImageAttributes`` not represented in :class:`Attributes`.

    Parameters
    ----------
    raw_attrs : Mapping

    Returns
    -------
    dict
        ``key -> value`` (e.g. ``uiVirtualComponents``).
    """
    return collect_unknown(raw_attrs, {k: None for k in KNOWN_ATTRIBUTE_KEYS})
