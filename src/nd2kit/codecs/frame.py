"""Frame payloads (of ``ImageDataSeq|N!`` chunks): where the pixels are, the timestamp,
how a compressed frame inflates, and how a payload is encoded.

The payload layout is the spec's ``image_frame`` type (``spec/nd2_container.ksy``,
see ``docs/format.md``, section ``image_frame``): an f64 timestamp, then either the
pixel block (``height * width_bytes`` bytes) or a zlib stream that inflates to it.
The constants below are taken from the generated ``ImageFrame`` codec, not written
by hand, so readers locate pixels without doing layout arithmetic themselves.

This module holds the rules of the payload only; where a chunk's payload starts
(chunk headers) is :mod:`nd2kit.codecs.container`'s business
(:func:`~nd2kit.codecs.container.locate_payloads`, which re-exports
:func:`inflate` and :func:`timestamp` as ``inflate_frame`` and ``frame_timestamp``).
"""

from __future__ import annotations

import sys
import zlib
from typing import Any

import numpy as np

from .._generated.fast import nd2_container as _g
from ..errors import CorruptChunkError, Nd2Error

__all__ = ["PIXELS_AT", "encode_frame", "inflate", "inflate_pixels", "payload_size", "pixel_offset",
           "pixel_offsets", "timestamp"]

#: bytes of the payload before the pixel block / zlib stream (the f64 timestamp), from the spec
PIXELS_AT: int = _g.ImageFrame.parse(bytes(16), height=0, width_bytes=0, compressed=False)._end_pos


def timestamp(head: Any, *, chunk: str | None = None, offset: int = 0) -> float:
    """The f64 timestamp that starts a frame payload (spec: image_frame.timestamp).

    Parameters
    ----------
    head : bytes-like
        At least the first :data:`PIXELS_AT` bytes of the payload.
    chunk, offset : str, int
        Chunk name and absolute payload offset, for errors.

    Raises
    ------
    CorruptChunkError
        `head` is shorter than the timestamp.
    """
    try:
        frame = _g.ImageFrame.parse(bytes(head[:PIXELS_AT]), 0, None, height=0, width_bytes=0,
                                    compressed=True)
    except Nd2Error as e:
        raise e.at(chunk, offset) from None
    return float(frame.timestamp)


def pixel_offset(payload_offset: int) -> int:
    """Absolute offset of the pixel block (or zlib stream) of the payload at `payload_offset`."""
    return payload_offset + PIXELS_AT


def pixel_offsets(payload_offsets: np.ndarray) -> np.ndarray:
    """:func:`pixel_offset` of many payloads (negative entries — unknown/bad — kept)."""
    p = np.asarray(payload_offsets, np.int64)
    return np.where(p >= 0, p + PIXELS_AT, p)


def payload_size(nbytes: int) -> int:
    """Payload bytes of an uncompressed frame whose pixel block has `nbytes` bytes."""
    return PIXELS_AT + nbytes


def inflate(stream: Any, nbytes: int, *, chunk: str | None = None, offset: int = 0,
            label: str = "", require_end: bool = False) -> bytes:
    """Inflate a lossless frame's zlib stream (spec: image_frame.zlib_stream) to exactly
    `nbytes` bytes.

    Parameters
    ----------
    stream : bytes-like
        The zlib stream (the payload after the timestamp).
    nbytes : int
        Expected pixel block size (``height * width_bytes``); inflating stops after
        ``nbytes + 1`` bytes, so a zlib bomb costs no more than one frame.
    chunk, offset : str, int
        Chunk name and absolute offset of the stream, for errors.
    label : str
        Prefixes error messages (e.g. ``"frame 3"`` gives ``"frame 3: ..."``).
    require_end : bool
        Reject a stream that stops before its end (truncated, or its checksum
        missing), as nd2 does (``zlib.decompress``) and as :func:`inflate_pixels` (the
        reader's path) always does; False accepts the pixels such a stream gives when
        they are complete.

    Raises
    ------
    CorruptChunkError
        Bad zlib stream, one that inflates to another size, or (with `require_end`)
        one that ends before its end marker and checksum.
    """
    pre = f"{label}: " if label else ""
    if not 0 <= nbytes < sys.maxsize:  # zlib's max_length is a Py_ssize_t
        raise CorruptChunkError(f"{pre}frame size {nbytes} bytes is impossible", chunk=chunk,
                                offset=offset)
    d = zlib.decompressobj()
    try:
        block = d.decompress(stream, nbytes + 1)
    except zlib.error as e:
        raise CorruptChunkError(f"{pre}bad zlib stream ({e})", chunk=chunk, offset=offset) from None
    except MemoryError:  # pragma: no cover
        raise CorruptChunkError(f"{pre}not enough memory to inflate the frame", chunk=chunk,
                                offset=offset) from None
    if len(block) != nbytes:
        got = f"more than {nbytes}" if len(block) > nbytes else str(len(block))
        raise CorruptChunkError(f"{pre}inflates to {got} bytes, expected {nbytes}", chunk=chunk,
                                offset=offset)
    if require_end and not d.eof:
        raise CorruptChunkError(f"{pre}zlib stream incomplete (truncated): no end after {nbytes} bytes",
                                chunk=chunk, offset=offset)
    return block


def inflate_pixels(payload: Any, nbytes: int, *, chunk: str, base: int, label: str = "") -> bytes:
    """:func:`inflate` the zlib stream of a whole compressed frame payload (timestamp +
    stream) at absolute offset `base`; errors point at the stream. The stream must
    end (``require_end``): a truncated frame is corrupt, never partial pixels."""
    try:
        frame = _g.ImageFrame.parse(payload, height=0, width_bytes=0, compressed=True)
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    return inflate(frame.zlib_stream, nbytes, chunk=chunk, offset=base + PIXELS_AT, label=label,
                   require_end=True)


def encode_frame(timestamp: float, rows_block: Any, *, compress: int | None = None) -> bytes:
    """The payload of a frame chunk: the f64 `timestamp`, then the pixel block.

    Parameters
    ----------
    timestamp : float
        Frame timestamp (ms; limnd2 writes -1.0 when unknown).
    rows_block : bytes-like or ndarray
        The pixel block as stored: ``height`` rows of ``width_bytes`` bytes each,
        row padding included (an array is taken as its C-order bytes).
    compress : int, optional
        zlib level (0-9, -1 = zlib's default) for a lossless frame (eCompression 0);
        None stores the block as is (eCompression 2).

    Returns
    -------
    bytes
        The payload, readable back with :func:`timestamp` and :func:`inflate_pixels`
        (or the pixel block at :data:`PIXELS_AT`).
    """
    block = rows_block.tobytes() if isinstance(rows_block, np.ndarray) else bytes(rows_block)
    if compress is None:
        node = _g.ImageFrame(timestamp=float(timestamp), pixels=block, zlib_stream=None, height=1,
                             width_bytes=len(block), compressed=False)
    else:
        node = _g.ImageFrame(timestamp=float(timestamp), pixels=None,
                             zlib_stream=zlib.compress(block, int(compress)), height=0, width_bytes=0,
                             compressed=True)
    out: bytes = node.to_bytes()
    return out
