"""Frame chunks (``ImageDataSeq|N!``): where a frame's payload and pixels are, and
how a compressed frame inflates.

The payload layout is the spec's ``image_frame`` type (``spec/nd2_container.ksy``,
see ``docs/format.md``, section ``image_frame``): an f64 timestamp, then either the
pixel block (``height * width_bytes`` bytes) or a zlib stream that inflates to it.
The constants below are taken from the generated ``ImageFrame`` codec, not written
by hand, so readers locate pixels without doing layout arithmetic themselves.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from .._generated.fast import nd2_container as _g
from ..errors import CorruptChunkError, Nd2Error
from .container import CHUNK_MAGIC_BYTES, HEADER_SIZE

__all__ = ["HEADER_SIZE", "PIXELS_AT", "inflate_pixels", "payload_offset", "payload_offsets", "payload_size",
           "pixel_offset", "pixel_offsets", "timestamp"]

#: bytes of the payload before the pixel block / zlib stream (the timestamp), from the spec
PIXELS_AT: int = _g.ImageFrame.parse(bytes(16), height=0, width_bytes=0, compressed=False)._end_pos


def timestamp(payload: Any) -> float:
    """The frame's f64 timestamp from its payload."""
    frame = _g.ImageFrame.parse(payload, 0, PIXELS_AT, height=0, width_bytes=0, compressed=False)
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


def payload_offset(head: Any, chunk_offset: int, file_size: int, min_len: int = 0) -> int:
    """Payload offset of the frame chunk whose 16-byte header is `head`, or -1 when the
    header is not a chunk header, its payload runs past the end of the file, or the
    payload is shorter than `min_len` bytes."""
    try:
        _, name_len, data_len = _g.ChunkHeader.unpack(head, 0)
    except Nd2Error:
        return -1
    data = chunk_offset + HEADER_SIZE + name_len
    return data if data + data_len <= file_size and data_len >= min_len else -1


def payload_offsets(buf: Any, chunk_offsets: np.ndarray) -> np.ndarray:
    """:func:`payload_offset` of many frame chunks whose headers are in `buf` (the whole
    file), vectorised: only the 16 header bytes of each chunk are touched."""
    u8 = np.frombuffer(buf, dtype=np.uint8)
    offs = np.asarray(chunk_offsets, np.int64)
    out = np.full(len(offs), -1, np.int64)
    ok = (offs >= 0) & (offs + HEADER_SIZE <= len(u8))
    o = offs[ok]
    if not len(o):
        return out
    head = u8[o[:, None] + np.arange(HEADER_SIZE)].reshape(-1).view(_g.ChunkHeader.DTYPE)
    magic_ok = head["magic"] == np.void(CHUNK_MAGIC_BYTES)
    data_off = o + HEADER_SIZE + head["name_len"].astype(np.int64)
    fits = magic_ok & (data_off + head["data_len"].astype(np.float64) <= len(u8))
    out[np.flatnonzero(ok)] = np.where(fits, data_off, -1)
    return out


def inflate_pixels(payload: Any, nbytes: int, *, chunk: str, base: int, label: str = "") -> bytes:
    """Inflate a compressed frame's payload to exactly `nbytes` bytes.

    Parameters
    ----------
    payload : bytes-like
        The whole payload (timestamp + zlib stream).
    nbytes : int
        Expected pixel block size (``height * width_bytes``); inflating stops after
        ``nbytes + 1`` bytes, so a zlib bomb costs no more than one frame.
    chunk, base : str, int
        Chunk name and absolute payload offset, for errors.
    label : str
        Prefix of error messages (e.g. ``"frame 3: "``).

    Raises
    ------
    CorruptChunkError
        Bad zlib stream, or a stream that does not inflate to `nbytes` bytes.
    """
    at = base + PIXELS_AT
    try:
        frame = _g.ImageFrame.parse(payload, height=0, width_bytes=0, compressed=True)
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    d = zlib.decompressobj()
    try:
        block = d.decompress(frame.zlib_stream, nbytes + 1)
    except zlib.error as e:
        raise CorruptChunkError(f"{label}bad zlib stream ({e})", chunk=chunk, offset=at) from None
    except MemoryError:  # pragma: no cover
        raise CorruptChunkError(f"{label}not enough memory to inflate", chunk=chunk, offset=at) from None
    if len(block) != nbytes:
        raise CorruptChunkError(f"{label}inflates to {len(block)} bytes, expected {nbytes}",
                                chunk=chunk, offset=at)
    return block
