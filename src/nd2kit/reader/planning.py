"""Dask chunk planning: the one rule ``ND2File.to_dask`` and ``Nd2Reader.delayedImageData`` use."""

from __future__ import annotations

__all__ = ["plan_chunks", "split"]


def split(n: int, size: int) -> tuple[int, ...]:
    """`n` items in chunks of `size` (the last one smaller); ``(0,)`` for an empty axis."""
    if n <= 0:
        return (0,)
    size = max(1, min(size, n))
    out = (size,) * (n // size)
    return out + (n % size,) if n % size else out


def _take(n: int, budget: int) -> int:
    """Items per chunk along an axis of `n` items: at most `budget`, balanced so that
    the chunks are as even as possible (fewest chunks, sizes differing by at most the
    remainder). O(1)."""
    if n <= 0:
        return 1
    take = max(1, min(n, budget))
    k = -(-n // take)  # fewest chunks
    return -(-n // k)


def plan_chunks(coord_shape: tuple[int, ...], frame_shape: tuple[int, ...], itemsize: int, *,
                row_axis: int | None, target_bytes: int, split_rows: bool
                ) -> tuple[tuple[int, ...], ...]:
    """Dask chunks for an array of frames.

    Frames are grouped, innermost loop axis first, into chunks of at most
    `target_bytes` (never less than one frame); when one frame alone is larger
    than `target_bytes` and `split_rows` (uncompressed frames, whose rows can be
    read alone), the frame's row axis is split instead. The graph size is the
    number of chunks; planning is O(number of chunks).

    Parameters
    ----------
    coord_shape : tuple of int
        Loop axis sizes (array order, outermost first).
    frame_shape : tuple of int
        Shape of one frame as it appears in the array.
    itemsize : int
        Bytes per sample.
    row_axis : int or None
        Axis of `frame_shape` holding image rows.
    target_bytes : int
        Wanted chunk size.
    split_rows : bool
        Row chunks are allowed for frames larger than `target_bytes`.
    """
    frame_bytes = itemsize
    for v in frame_shape:
        frame_bytes *= v
    budget = max(1, target_bytes // max(frame_bytes, 1))
    chunks: list[tuple[int, ...]] = []
    for n in reversed(coord_shape):
        take = _take(n, budget)
        chunks.insert(0, split(n, take))
        budget = max(1, budget // n) if take == n else 1
    frame_chunks: list[tuple[int, ...]] = [(n,) for n in frame_shape]
    if row_axis is not None and split_rows and frame_bytes > target_bytes:
        h = frame_shape[row_axis]
        frame_chunks[row_axis] = split(h, max(1, h * target_bytes // frame_bytes))
    return tuple(chunks) + tuple(frame_chunks)
