"""LiteVariant, the binary metadata encoding of ND2 3.x (docs/format.md, lite_variant).

Three views of the same bytes:

* :func:`decode` — nested dicts/lists in nd2's JSON shape (lists as ``i0000000000``
  keys), fast: the record loop is generated from ``spec/lite_variant.ksy``;
* :func:`decode_lossless` / :func:`encode` — a tree of :class:`LvRecord` that keeps
  type codes, order, offset tables, gaps and compressed blocks, so that
  ``encode(decode_lossless(b)) == b`` byte for byte;
* :func:`check` / :func:`walk` — a structural check that never raises: it collects
  :class:`LvFinding` s (spec field, offset, record path) and locates the damage.
"""

from __future__ import annotations

import encodings.utf_16_le  # noqa: F401 - names are UTF-16: load the codec with the library, not on the first frame
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from .._generated.fast import lite_variant as _g
from .._generated.fast._runtime import (
    inflate_limit,
    limit_inflation,
    pop_inflate_limit,
    push_inflate_limit,
)
from .._native import compiled
from ..errors import CorruptChunkError, Nd2Error

#: the dict decoders in use: the generated module or its compiled copy (same results
#: and errors, tests/codecs/test_lite_variant.py; docs/architecture.md)
_d, _DECODERS = compiled("_lv", _g)


def decoders_in_use() -> str:
    """Which LiteVariant dict decoders run: ``"compiled (...)"`` or ``"pure Python (why)"``."""
    return _DECODERS

__all__ = [
    "decoders_in_use",
    "CHECK_INFLATE_CAP",
    "CHECK_MAX_DEPTH",
    "LvChunk",
    "LvFinding",
    "LvVisit",
    "LvRecord",
    "LvType",
    "decode",
    "decode_lossless",
    "encode",
    "check",
    "from_python",
    "inflate_limit",
    "iter_records",
    "limit_inflation",
    "looks_like",
    "walk",
]

if TYPE_CHECKING:

    class LvRecord:
        """Type of the generated ``LvRecord`` (see ``generated/fast/lite_variant.py``)."""

        type: int
        name: str
        value: Any
        offsets: tuple[int, ...] | None
        gap: bytes
        name_raw: bytes | None
        reserved: bytes | None
        packed: bytes | None
        pos: int | None

        def __init__(
            self,
            type: int,
            name: str,
            value: Any,
            offsets: Any = None,
            gap: bytes = b"",
            name_raw: bytes | None = None,
            reserved: bytes | None = None,
            packed: bytes | None = None,
            pos: int | None = None,
        ) -> None: ...

else:
    LvRecord = _g.LvRecord


class LvType(IntEnum):
    """LiteVariant type codes (``lv_type`` in the spec)."""

    UNKNOWN = _g.LvType.UNKNOWN
    BOOL = _g.LvType.BOOL
    INT32 = _g.LvType.INT32
    UINT32 = _g.LvType.UINT32
    INT64 = _g.LvType.INT64
    UINT64 = _g.LvType.UINT64
    DOUBLE = _g.LvType.DOUBLE
    VOID_POINTER = _g.LvType.VOID_POINTER
    STRING = _g.LvType.STRING
    BYTE_ARRAY = _g.LvType.BYTE_ARRAY
    DEPRECATED = _g.LvType.DEPRECATED
    LEVEL = _g.LvType.LEVEL
    COMPRESS = _g.LvType.COMPRESS


@dataclass
class LvChunk:
    """A whole LiteVariant payload: the root record and any bytes after it."""

    root: LvRecord
    trailing: bytes = b""


def _bytes(data: Any) -> bytes:
    return data if isinstance(data, bytes) else bytes(data)


def decode(
    data: bytes | bytearray | memoryview,
    *,
    strip_prefix: bool = False,
    lists_to_indexed_dicts: bool = True,
    chunk: str | None = None,
    base: int = 0,
    schema: Mapping[str, Any] | None = None,
    inflate_limit: int | None = None,
) -> dict[str, Any]:
    """Decode the root record of a LiteVariant payload to nested dicts.

    Parameters
    ----------
    data : bytes-like
        The chunk payload.
    strip_prefix : bool
        Drop the lowercase Hungarian prefix of names (``uiWidth`` -> ``Width``), as
        nd2 does for ``CustomData`` chunks.
    lists_to_indexed_dicts : bool
        Represent lists as ``{"i0000000000": ...}`` (nd2's shape) instead of lists.
    chunk, base : str, int
        Chunk name and file offset of `data`, used in error messages.
    schema : mapping, optional
        Decode only these keys of the root record: name -> ``None`` (whole value)
        or a nested schema, ``"*"`` for any other name. Other subtrees are skipped
        by their length without being decoded; selected values equal a full decode.
    inflate_limit : int, optional
        Largest size (bytes) a compressed (type 76) record may inflate to; default the
        context's :func:`inflate_limit` (see :func:`limit_inflation`). The reader
        passes :func:`nd2kit.model.limits.metadata_inflate_limit` of the file size.

    Returns
    -------
    dict
        ``{root_name: value}``; empty for empty input.

    Raises
    ------
    CorruptChunkError
        Truncated or malformed records (with the absolute offset).
    """
    buf = data if type(data) is bytes else bytes(data)
    if not buf:
        return {}
    token = None if inflate_limit is None else push_inflate_limit(inflate_limit)
    try:
        if schema is not None:
            if not strip_prefix:  # names matched as raw bytes (compiled once per schema)
                out = _d.decode_tree_compiled(buf, 0, len(buf), 1, lists_to_indexed_dicts,
                                              _d.compile_schema(schema))
            else:
                out = _d.decode_tree_selected(buf, 0, len(buf), 1, strip_prefix,
                                              lists_to_indexed_dicts, {"*": schema})
        else:
            out = _d.decode_tree(buf, 0, len(buf), strip_prefix, lists_to_indexed_dicts)
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    except RecursionError:
        raise CorruptChunkError("LiteVariant nesting too deep", chunk=chunk, offset=base) from None
    finally:
        if token is not None:
            pop_inflate_limit(token)
    return cast("dict[str, Any]", out)


def decode_lossless(
    data: bytes | bytearray | memoryview, *, chunk: str | None = None, base: int = 0,
    inflate_limit: int | None = None,
) -> LvChunk:
    """Decode a payload to an :class:`LvChunk` that re-encodes to the same bytes.

    Record positions (``LvRecord.pos``) are offsets in `data` (add `base` for file
    offsets). `inflate_limit` as in :func:`decode`.
    """
    buf = _bytes(data)
    token = None if inflate_limit is None else push_inflate_limit(inflate_limit)
    try:
        root, end = _g.decode_tree_record(buf, 0, len(buf))
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    except RecursionError:
        raise CorruptChunkError("LiteVariant nesting too deep", chunk=chunk, offset=base) from None
    finally:
        if token is not None:
            pop_inflate_limit(token)
    return LvChunk(root, buf[end:])


def encode(tree: LvChunk | LvRecord, *, keep_offsets: bool = True) -> bytes:
    """Encode a lossless tree.

    Names lengths, LEVEL item counts and lengths are always computed; offset tables
    are kept as decoded when `keep_offsets` and their length still fits, otherwise
    written like NIS/limnd2 (child offsets sorted by child name).
    """
    if isinstance(tree, LvChunk):
        return bytes(_g.encode_tree_record(tree.root, keep_offsets)) + tree.trailing
    return bytes(_g.encode_tree_record(tree, keep_offsets))


_I32 = (-(2**31), 2**31 - 1)
_U32 = (0, 2**32 - 1)
_I64 = (-(2**63), 2**63 - 1)


def from_python(name: str, value: Any) -> LvRecord:
    """Build a record from plain Python values (for writers and tests).

    ``bool`` -> BOOL, ``int`` -> INT32/UINT32/INT64/UINT64 (smallest that fits, signed
    first), ``float`` -> DOUBLE, ``str`` -> STRING, ``bytes`` -> BYTEARRAY, mappings
    -> LEVEL (``i0000000000``-style keys become unnamed list items), lists -> LEVEL
    lists. Pass an :class:`LvRecord` to choose a type code yourself.
    """
    if isinstance(value, LvRecord):
        value.name = name
        return value
    if isinstance(value, bool):
        return LvRecord(LvType.BOOL, name, int(value))
    if isinstance(value, int):
        for lo_hi, t in ((_I32, LvType.INT32), (_U32, LvType.UINT32), (_I64, LvType.INT64)):
            if lo_hi[0] <= value <= lo_hi[1]:
                return LvRecord(t, name, value)
        if 0 <= value < 2**64:
            return LvRecord(LvType.UINT64, name, value)
        raise ValueError(f"{name}: integer {value} does not fit 64 bits")
    if isinstance(value, float):
        return LvRecord(LvType.DOUBLE, name, value)
    if isinstance(value, str):
        return LvRecord(LvType.STRING, name, value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return LvRecord(LvType.BYTE_ARRAY, name, bytes(value))
    if isinstance(value, Mapping):
        keys = list(value)
        is_list = bool(keys) and all(
            isinstance(k, str) and len(k) == 11 and k[0] == "i" and k[1:].isdigit() for k in keys
        )
        children = [from_python("" if is_list else str(k), v) for k, v in value.items()]
        return LvRecord(LvType.LEVEL, name, children)
    if isinstance(value, (list, tuple)):
        return LvRecord(LvType.LEVEL, name, [from_python("", v) for v in value])
    raise TypeError(f"{name}: cannot encode {type(value).__name__} as LiteVariant")


def iter_records(rec: LvRecord, depth: int = 0, path: str = "") -> Iterator[tuple[int, str, LvRecord]]:
    """Yield ``(depth, path, record)`` for `rec` and every record below it."""
    here = f"{path}/{rec.name}" if path else (rec.name or "/")
    yield depth, here, rec
    if rec.type == LvType.LEVEL:
        for i, child in enumerate(rec.value):
            sub = child if child.name else None
            if sub is None:
                yield from iter_records(child, depth + 1, f"{here}[{i}]")
            else:
                yield from iter_records(child, depth + 1, here)
    elif rec.type == LvType.COMPRESS:
        yield from iter_records(rec.value, depth + 1, here + "<zlib>")


def value_offset(data: Any, rec: LvRecord) -> int | None:
    """Offset in `data` of the value of the scalar/STRING/BYTEARRAY record `rec`
    (after its type byte, name_len and name), parsed with the generated record codec;
    None for LEVEL and compressed records and records without a position."""
    if rec.pos is None or rec.type in (LvType.LEVEL, LvType.COMPRESS):
        return None
    node = _g.Record.parse(_bytes(data), rec.pos)
    if hasattr(node.value, "_pos"):  # STRING / BYTEARRAY value nodes
        return int(node.value._pos)
    return int(node._end_pos - _g._TR_SCALARS[rec.type][1])


def scalar_repr(rec: LvRecord) -> str:
    """Short text of a record's value for tools (bytes as hex, floats exact)."""
    v = rec.value
    if rec.type == LvType.LEVEL:
        return f"<{len(v)} items>"
    if rec.type == LvType.COMPRESS:
        return f"<zlib {len(rec.packed or b'')} bytes>"
    if isinstance(v, bytes):
        return v[:32].hex() + ("…" if len(v) > 32 else "") + f" ({len(v)} bytes)"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return repr(v)


# ----------------------------------------------------------------------------- checking

#: default bound of :func:`check`: LEVELs nested deeper are stepped over (one finding)
CHECK_MAX_DEPTH: int = _g.CHECK_MAX_DEPTH
#: largest cap :func:`check` applies to the inflated size of a compressed (type 76)
#: record when none is given and no tighter :func:`limit_inflation` is in effect
CHECK_INFLATE_CAP: int = _g.CHECK_INFLATE_CAP


class LvFinding(NamedTuple):
    """One problem found by :func:`check`.

    Attributes
    ----------
    severity : str
        ``"error"`` (readers fail or disagree) or ``"warning"``.
    field : str
        Spec field path in ``spec/lite_variant.ksy``, ``type.field`` (e.g.
        ``"level.offsets"``, ``"record.name"``, ``"string_value.value"``).
    offset : int or None
        Absolute byte offset (`base` + position); for records inside a compressed
        block, the compressed record's offset (the message gives the inflated one).
    message : str
        What is wrong and what readers do with it.
    path : str
        Record path, e.g. ``"SLxImageAttributes/uiWidth"``; list items as ``[i]``.
    chunk : str or None
        The chunk name given to :func:`check`.
    """

    severity: str
    field: str
    offset: int | None
    message: str
    path: str
    chunk: str | None = None


class LvVisit(NamedTuple):
    """A record :func:`walk` could read: offset in the payload, depth, path, name,
    type code and a short text of its value."""

    pos: int
    depth: int
    path: str
    name: str
    type: int
    text: str


def walk(
    data: bytes | bytearray | memoryview,
    *,
    base: int = 0,
    chunk: str | None = None,
    max_depth: int = CHECK_MAX_DEPTH,
    inflate_cap: int | None = None,
) -> tuple[list[LvFinding], list[LvVisit]]:
    """Structurally check a payload and list the records that could be read.

    Returns
    -------
    findings : list of LvFinding
        In the order found (see :func:`check`).
    records : list of LvVisit
        Every record read, sorted by position in `data` (also those before a fault).
        Record paths deeper than 1000 levels keep only their last characters.
    """
    return _walk(data, base, chunk, max_depth, inflate_cap, True)


def _walk(
    data: bytes | bytearray | memoryview,
    base: int,
    chunk: str | None,
    max_depth: int,
    inflate_cap: int | None,
    visits: bool,
) -> tuple[list[LvFinding], list[LvVisit]]:
    found, visited = _g.check_tree_stream(_bytes(data), base, max_depth, inflate_cap, visits=visits)
    return (
        [LvFinding(sev, fld, off, msg, path, chunk) for sev, fld, off, msg, path in found],
        [LvVisit(*v) for v in visited],
    )


def check(
    data: bytes | bytearray | memoryview,
    *,
    base: int = 0,
    chunk: str | None = None,
    max_depth: int = CHECK_MAX_DEPTH,
    inflate_cap: int | None = None,
) -> list[LvFinding]:
    """Check a LiteVariant payload located at file offset `base`, collecting findings.

    Never raises for bad input, and never recurses (an explicit stack walks the
    records). A LEVEL whose length or item count is wrong is re-parsed without it and
    by its offset table, so that a fault is reported at the bytes that cause it.

    Parameters
    ----------
    data : bytes-like
        The chunk payload.
    base : int
        File offset of `data` (added to every finding's offset).
    chunk : str, optional
        Chunk name, copied to the findings.
    max_depth : int
        LEVELs nested deeper than this are stepped over by their length (one
        finding each) instead of being walked.
    inflate_cap : int, optional
        Compressed (type 76) records inflating to more bytes than this are findings;
        default the context's :func:`inflate_limit`.

    Returns
    -------
    list of LvFinding
        Empty for a conforming payload.
    """
    return _walk(data, base, chunk, max_depth, inflate_cap, False)[0]


def looks_like(head: bytes, data_len: int) -> bool:
    """True when `head` (the first payload bytes, of `data_len` in all) starts like a
    LiteVariant root record: a LEVEL named with printable ASCII ending in a NUL code
    unit, or a type-76 block with a valid zlib header. The LEVEL's length and count
    need not fit, so that a damaged header is still checked as LiteVariant."""
    return bool(_g.looks_like_tree(head, data_len))
