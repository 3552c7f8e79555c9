"""Limits on what metadata alone may make nd2kit allocate or address.

A file's metadata says how large a frame is and how many frames there are; a
damaged (or hostile) file can claim anything. Every size nd2kit derives from
metadata is checked, once per file, against what the file can hold:

* an uncompressed frame's pixel block must fit in the file;
* a compressed frame can inflate to at most :data:`ZLIB_MAX_RATIO` times the file;
* an allocation sized by metadata (a frame of zeros for a missing frame, the whole
  array of ``asarray``, the per-frame loop coordinates) may not exceed
  :func:`alloc_limit` of the file size: ``file_size * ZLIB_MAX_RATIO + ALLOC_CAP``;
* a compressed metadata stream (a type-76 LiteVariant record) may inflate to at most
  :func:`metadata_inflate_limit` of the file size: ``METADATA_INFLATE_RATIO`` times the
  file, at least ``METADATA_INFLATE_FLOOR`` and at most ``METADATA_INFLATE_CAP``. Real
  files keep a few KiB to a few MiB of metadata; a zlib bomb in a 30 KB file may make
  nd2kit inflate 8 MiB, not the 256 MiB of the codecs' last-resort cap.

:data:`ALLOC_CAP` is configurable: assign ``nd2kit.model.limits.ALLOC_CAP`` (bytes)
before opening a file to allow (or forbid) more memory for frames that the file does
not store (missing frames read as zeros). Values beyond the limit raise
:class:`~nd2kit.errors.CorruptChunkError` naming the chunk and field they came from.
"""

from __future__ import annotations

from ..errors import CorruptChunkError

__all__ = ["ALLOC_CAP", "FRAME_OVERHEAD", "MAX_DIM", "MAX_FRAMES", "METADATA_INFLATE_CAP",
           "METADATA_INFLATE_FLOOR", "METADATA_INFLATE_RATIO", "ZLIB_MAX_RATIO", "alloc_limit",
           "check_frames", "metadata_inflate_limit"]

#: bytes that metadata may ask for beyond what the file's bytes can expand to
#: (frames of zeros for frames the file does not hold); configurable
ALLOC_CAP: int = 256 << 20
#: deflate's largest expansion (about 1032:1): no zlib stream inflates to more than this times its size
ZLIB_MAX_RATIO: int = 1032
#: largest frame width / height / row stride accepted (numpy and every index stay in int64)
MAX_DIM: int = (1 << 31) - 1
#: largest frame count (loop counts' product, sequence count) accepted before the file size decides
MAX_FRAMES: int = 1 << 40
#: bytes counted per frame on top of its pixels when a frame count is checked (the
#: per-frame Python objects of ``loop_indices`` and the like)
FRAME_OVERHEAD: int = 256
#: most bytes one compressed metadata stream may inflate to, whatever the file's size; configurable
METADATA_INFLATE_CAP: int = 64 << 20
#: bytes one compressed metadata stream may always inflate to (small files); configurable
METADATA_INFLATE_FLOOR: int = 8 << 20
#: beyond the floor, a stream may inflate to this many times the file's size; configurable
METADATA_INFLATE_RATIO: int = 32


def alloc_limit(file_size: int) -> int:
    """Most bytes a file of `file_size` bytes may make nd2kit allocate from its metadata:
    ``file_size * ZLIB_MAX_RATIO + ALLOC_CAP`` (read at call time, so a changed
    :data:`ALLOC_CAP` applies to files opened afterwards)."""
    return max(int(file_size), 0) * ZLIB_MAX_RATIO + max(int(ALLOC_CAP), 0)


def metadata_inflate_limit(file_size: int) -> int:
    """Most bytes one compressed metadata stream of a file of `file_size` bytes may
    inflate to: ``min(METADATA_INFLATE_CAP, max(METADATA_INFLATE_FLOOR,
    METADATA_INFLATE_RATIO * file_size))`` (read at call time, like :func:`alloc_limit`).
    A stream inflating to more is a :class:`~nd2kit.errors.CorruptChunkError` naming the
    chunk and the compressed record's offset."""
    most = max(int(METADATA_INFLATE_FLOOR), METADATA_INFLATE_RATIO * max(int(file_size), 0))
    return max(0, min(int(METADATA_INFLATE_CAP), most))


def check_frames(count: int, frame_bytes: int, file_size: int, *, chunk: str | None,
                 field: str, offset: int | None = None) -> None:
    """Check that `count` frames of `frame_bytes` bytes may be addressed for a file of
    `file_size` bytes: ``count * (frame_bytes + FRAME_OVERHEAD) <= alloc_limit(file_size)``
    and ``count <= MAX_FRAMES``.

    This is the rule for frame counts that metadata (the experiment loops' counts)
    asks for: missing frames read as zeros, so a file may address more frames than
    it stores (as nd2 does), but never more than the memory bound allows.

    Raises
    ------
    CorruptChunkError
        Naming `chunk` and `field` (e.g. ``"SLxExperiment.uLoopPars.uiCount"``).
    """
    need = count * (max(frame_bytes, 0) + FRAME_OVERHEAD)
    limit = alloc_limit(file_size)
    if count > MAX_FRAMES or need > limit:
        raise CorruptChunkError(
            f"the loops address {count} frames of {frame_bytes} bytes ({need} bytes with "
            f"per-frame overhead), more than a file of {file_size} bytes may allocate "
            f"({limit} bytes: nd2kit.model.limits.alloc_limit)", chunk=chunk, field=field,
            offset=offset)
