"""RLE binary-layer masks (``docs/format.md#binary_rle``) to and from numpy label images.

Layout work is done by the codecs generated from ``spec/binary_rle.ksy`` (runs come
out as zero-copy numpy structured arrays); painting and run extraction are
vectorised over all runs at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._generated.fast import binary_rle as _g
from ..errors import CorruptChunkError, Nd2Error

__all__ = ["decode_rle_mask", "encode_rle_mask"]

#: Largest mask (pixels) decoded from header fields, guarding huge allocations.
MAX_PIXELS = 1 << 30

# record sizes, from the generated layouts (spec/binary_rle.ksy)
_STREAM_HEAD: int = _g.RleHeader.SIZE
_OBJECT_HEAD: int = _g.RleObjectHeader.SIZE
_RUN: int = _g.RleRun.SIZE
_ROW_HEAD: int = len(_g.RleRow(y=0, run_count=0, runs=np.zeros(0, _g.RleRun.DTYPE)).to_bytes())


def _v2_extra() -> int:
    """Size of the two extra words of a version-2 object header, from the builder."""
    z = dict.fromkeys(_g.RleObjectHeader.FIELDS, 0)
    obj = _g.RleObject(header=_g.RleObjectHeader(**z), extra=[0, 0], rows=[])
    head = _g.RleHeader(**{**dict.fromkeys(_g.RleHeader.FIELDS, 0), "version": 2, "object_count": 1})
    return len(_g.RleStream(header=head, objects=[obj]).to_bytes()) - _STREAM_HEAD - _OBJECT_HEAD


#: the two extra words of a version-2 object header
_V2_EXTRA: int = _v2_extra()


def decode_rle_mask(payload: Any, *, dtype: Any = np.uint32, chunk: str | None = None,
                    base: int = 0) -> np.ndarray | None:
    """Decode a ``CustomDataSeq|<FileTag>|N!`` payload to a ``(height, width)`` label image.

    Returns None for an empty payload (4 bytes or fewer: "no mask", as nd2 reads it).

    Raises
    ------
    CorruptChunkError
        Bad zlib data, truncated records, or runs outside the mask.
    """
    raw = payload if isinstance(payload, bytes) else bytes(payload)
    if len(raw) <= 4:
        return None
    try:
        rle = _g.BinaryRle.parse(raw)
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    s = rle.stream
    w, h = s.header.width, s.header.height
    stream_at = base + len(raw) - len(rle._raw_stream)  # the zlib stream after the size field
    if w * h > MAX_PIXELS:
        raise CorruptChunkError(f"mask of {w}x{h} pixels is too large", chunk=chunk, offset=stream_at)
    try:
        out = np.zeros((h, w), dtype=dtype)
    except MemoryError:
        raise CorruptChunkError(f"not enough memory for a {w}x{h} mask", chunk=chunk,
                                offset=stream_at) from None
    xs, ls, ys, ids = [], [], [], []
    for obj in s.objects:
        oid = obj.header.object_id
        for row in obj.rows:
            runs = row.runs
            if len(runs):
                xs.append(runs["x"])
                ls.append(runs["length"])
                ys.append(np.full(len(runs), row.y, np.int64))
                ids.append(np.full(len(runs), oid, np.int64))
    if not xs:
        return out
    x = np.concatenate(xs).astype(np.int64)
    n = np.concatenate(ls).astype(np.int64)
    y = np.concatenate(ys)
    oid = np.concatenate(ids)
    bad = (y >= h) | (x + n > w)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CorruptChunkError(
            f"run x={x[i]} length={n[i]} row={y[i]} outside the {w}x{h} mask", chunk=chunk, offset=base
        )
    starts = y * w + x
    total = int(n.sum())
    flat = out.reshape(-1)
    if total > 2 * out.size + 65536:
        # overlapping runs: paint run by run (in file order, last wins) so that work and
        # memory stay proportional to the mask, not to the sum of run lengths
        for s, k, v in zip(starts.tolist(), n.tolist(), oid.tolist()):
            flat[s : s + k] = v
        return out
    csum = np.cumsum(n) - n
    idx = np.repeat(starts - csum, n) + np.arange(total)
    flat[idx] = np.repeat(oid, n).astype(dtype)
    return out


def encode_rle_mask(mask: np.ndarray, *, version: int = 3) -> bytes:
    """Encode a 2-D label image (0 = background) as a mask payload.

    One object record per distinct non-zero value; rows and runs in ascending order.
    An all-zero mask gives a valid stream with no objects (the portable empty mask).
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError("mask must be 2-D")
    if version not in (2, 3):
        raise ValueError("version must be 2 or 3")
    h, w = m.shape
    if m.size and (m.dtype.kind not in "iub" or int(m.min()) < 0 or int(m.max()) > 0xFFFFFFFF):
        raise ValueError("mask labels must be integers in 0 .. 2**32-1 (u32 object ids)")
    v = m.astype(np.int64)
    # run starts: non-zero pixels whose left neighbour differs (or column 0)
    left = np.zeros_like(v)
    left[:, 1:] = v[:, :-1]
    start = (v != 0) & ((v != left) | (np.arange(w) == 0))
    right = np.zeros_like(v)
    right[:, :-1] = v[:, 1:]
    stop = (v != 0) & ((v != right) | (np.arange(w) == w - 1))
    sy, sx = np.nonzero(start)
    ey, ex = np.nonzero(stop)  # same order as starts (row-major, one stop per start)
    rid = v[sy, sx]
    order = np.lexsort((sx, sy, rid))
    sy, sx, ex, rid = sy[order], sx[order], ex[order], rid[order]
    runs = np.empty(len(sx), dtype=_g.RleRun.DTYPE)
    runs["x"] = sx
    runs["length"] = ex - sx + 1
    object_head = _OBJECT_HEAD + (_V2_EXTRA if version == 2 else 0)
    objects = []
    ids, first = np.unique(rid, return_index=True)
    bounds = list(first[1:]) + [len(rid)]
    offset = _STREAM_HEAD
    last_obj = offset
    for oid, a, b in zip(ids.tolist(), first.tolist(), bounds):
        oy, ox, oe = sy[a:b], sx[a:b], ex[a:b]
        ry, rfirst = np.unique(oy, return_index=True)
        rbounds = list(rfirst[1:]) + [b - a]
        rows = []
        size = object_head
        last_row = size
        for y, ra, rb in zip(ry.tolist(), rfirst.tolist(), rbounds):
            last_row = size
            rows.append(_g.RleRow(y=y, run_count=rb - ra, runs=runs[a + ra : a + rb]))
            size += _ROW_HEAD + _RUN * (rb - ra)
        hdr = _g.RleObjectHeader(
            object_id=oid, left=int(ox.min()), top=int(oy.min()), right=int(oe.max()),
            bottom=int(oy.max()), object_bytes=size, row_count=len(rows),
            last_row_offset=last_row, status=0,
        )
        objects.append(_g.RleObject(header=hdr, extra=[0, 0] if version == 2 else None, rows=rows))
        last_obj = offset
        offset += size
    header = _g.RleHeader(
        version=version, width=w, height=h, object_count=len(objects),
        bytes_of_objects=offset - _STREAM_HEAD, last_object_offset=last_obj if objects else 0,
        custom_data_size=0,
    )
    stream = _g.RleStream(header=header, objects=objects).to_bytes()
    return bytes(_g.BinaryRle(uncompressed_size=len(stream), stream=_g.RleStream.parse(stream)).to_bytes())
