"""A lazily-read N-D view of a file's frames, for dask (and anything that slices).

:class:`FrameArray` knows the array's shape and how each coordinate maps to a frame
(sequence index) and to a place inside the frame. Indexing it reads only the frames
(and, for uncompressed frames, only the rows) it needs. It is picklable: it keeps
the *source* (path, URL + storage options, or bytes), not an open handle, and reopens
lazily after unpickling or after its file was closed — so dask graphs built from it
stay valid after ``ND2File.close()`` and in other processes.
"""

from __future__ import annotations

import os as _os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["FrameArray", "FrameSpec", "SourceOpener", "LiveOpener", "RavelToSeq", "FrameTransform",
           "copy_blocks", "source_of"]


def source_of(file: Any) -> Any:
    """What a lazy array can reopen: a path/URL or bytes; None for bare file objects."""
    if isinstance(file, (str, _os.PathLike)):
        return _os.fspath(file)
    if isinstance(file, (bytes, bytearray, memoryview)):
        return file
    name = getattr(file, "name", None) or getattr(file, "path", None)
    if isinstance(name, str) and _os.path.isfile(name):
        return name
    return None


def copy_blocks(src: np.ndarray, threads: int | None = None, min_parallel: int = 32 << 20) -> np.ndarray:
    """Copy `src` (frames along axis 0) into new memory of the same layout, in blocks of
    frames on threads (numpy releases the GIL while copying)."""
    out = np.empty(src.shape, dtype=src.dtype)
    n = len(src)
    threads = threads or min(4, _os.cpu_count() or 1)
    if src.nbytes < min_parallel or threads < 2 or n < 2:
        np.copyto(out, src)
        return out
    bounds = np.linspace(0, n, min(n, threads * 4) + 1).astype(int).tolist()
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(lambda ab: np.copyto(out[ab[0]:ab[1]], src[ab[0]:ab[1]]),
                    zip(bounds[:-1], bounds[1:])))
    return out



class SourceOpener:
    """Picklable recipe that reopens a file's reader (path/URL + options, or bytes).

    `reader`, an already open reader of the same source, is handed out while its
    store is open (no second parse of the chunk map); it is not pickled.
    """

    def __init__(self, source: Any, storage_options: dict[str, Any] | None = None,
                 reader: Any = None) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = bytes(source)
        self.source = source
        self.storage_options = storage_options
        self._live = reader

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "storage_options": self.storage_options, "_live": None}

    def __call__(self) -> Any:
        live = self._live
        if live is not None and not live.store.closed:
            return live
        self._live = None
        from ..storage import open_store
        from . import open_reader

        return open_reader(open_store(self.source, storage_options=self.storage_options))


class LiveOpener:
    """Hands out an open reader (for file objects, which cannot be reopened).

    Works while the caller's file object is open; cannot be pickled.
    """

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def __call__(self) -> Any:
        return self.reader

    def __reduce__(self) -> Any:
        raise TypeError("a lazy array of a file opened from a file object cannot be pickled; "
                        "open the file by path, URL or from bytes")


class RavelToSeq:
    """Loop coordinates -> sequence index, for loops nested in array-axis order."""

    def __init__(self, coord_shape: tuple[int, ...]) -> None:
        self.coord_shape = tuple(coord_shape)

    def __call__(self, grid: np.ndarray) -> np.ndarray:
        if not self.coord_shape:
            return np.zeros(len(grid), np.int64)
        out: np.ndarray = np.ravel_multi_index(tuple(np.asarray(grid).T), self.coord_shape)
        return out


class FrameTransform:
    """Stored ``(rows, width, components)`` frame -> nd2's layout ``(C, Y, X[, S])``.

    RGB planes (3 components) are reordered from stored B, G, R to R, G, B; axes of
    size 1 that nd2 drops from ``sizes`` (C, S, and Y/X of 1-pixel images) are dropped.
    """

    def __init__(self, channels: int, per_channel: int, drop_y: bool, drop_x: bool) -> None:
        self.nc = channels
        self.cpc = per_channel
        self.drop_y = drop_y
        self.drop_x = drop_x

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Transform one frame ``(rows, w, comp)`` or a batch ``(..., rows, w, comp)``."""
        lead = raw.shape[:-3]
        k = len(lead)
        h, w = raw.shape[-3], raw.shape[-2]
        nc, cpc = self.nc, self.cpc
        arr = raw.reshape(lead + (h, w, nc, cpc))
        if cpc == 3:
            arr = arr[..., ::-1]
        if cpc not in (1, 3):
            # not RGB: all components become channels, in stored order
            arr = arr.reshape(lead + (h, w, nc * cpc, 1))
            nc, cpc = nc * cpc, 1
        arr = arr.transpose(tuple(range(k)) + (k + 2, k, k + 1, k + 3))  # ..., C, Y, X, S
        drop = [k + ax for ax, gone in ((0, nc == 1), (1, self.drop_y), (2, self.drop_x),
                                        (3, cpc == 1)) if gone]
        out: np.ndarray = arr.squeeze(axis=tuple(drop)) if drop else arr
        return out


class FrameSpec:
    """How frames map to the N-D array (shared by ND2File and Nd2Reader).

    Parameters
    ----------
    coord_shape : tuple of int
        Sizes of the loop axes, in array order.
    to_seq : callable
        Maps an ``(n, len(coord_shape))`` integer array of loop coordinates to
        sequence indices.
    frame_shape : tuple of int
        Shape of one frame after `frame_transform`.
    frame_transform : callable
        Maps a ``(rows, width, components)`` frame (stored order) to its array form
        (e.g. nd2's ``(C, Y, X[, S])``); must keep rows on the axis `row_axis`.
    row_axis : int or None
        Axis of the transformed frame that holds image rows (None: no row axis,
        whole frames are read).
    """

    def __init__(self, coord_shape: tuple[int, ...], to_seq: Callable[[np.ndarray], np.ndarray],
                 frame_shape: tuple[int, ...], frame_transform: Callable[[np.ndarray], np.ndarray],
                 row_axis: int | None) -> None:
        self.coord_shape = coord_shape
        self.to_seq = to_seq
        self.frame_shape = frame_shape
        self.frame_transform = frame_transform
        self.row_axis = row_axis


class FrameArray:
    """Array-like (``shape``, ``dtype``, ``ndim``, ``__getitem__``) over a file's frames.

    Parameters
    ----------
    opener : callable
        Zero-argument picklable callable returning a :class:`~nd2kit.reader.Reader`
        with ``read_frame(i)`` and ``read_rows(i, y0, y1)``.
    spec : FrameSpec
    dtype : numpy dtype
    threads : int
        Threads for compressed frames.
    copy : bool
        Whether indexing always returns new memory. By default (False) a run of
        evenly spaced uncompressed frames of a memory-mapped file is returned as a
        read-only strided view of the map (the map lives as long as the view, so it
        cannot dangle): dask then makes the one copy when it assembles a result,
        which halves the peak memory of ``compute()`` and lets reductions read the
        file without any copy. Other frames are always read into new memory.
    """

    def __init__(self, opener: Callable[[], Any], spec: FrameSpec, dtype: np.dtype,
                 threads: int = 2, copy: bool = False) -> None:
        self._opener = opener
        self.spec = spec
        self.dtype = np.dtype(dtype)
        self.shape = tuple(spec.coord_shape) + tuple(spec.frame_shape)
        self.ndim = len(self.shape)
        self._threads = threads
        self.copy = bool(copy)
        self._reader: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["_reader"] = None
        d["_lock"] = None
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)
        self._lock = threading.Lock()

    def _rdr(self) -> Any:
        rdr = self._reader
        if rdr is None or rdr.store.closed:
            with self._lock:
                rdr = self._reader
                if rdr is None or rdr.store.closed:
                    rdr = self._reader = self._opener()
        return rdr

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[tuple(slice(None) for _ in self.shape)]
        if dtype is not None and np.dtype(dtype) != out.dtype:
            return out.astype(dtype)
        return np.array(out) if copy and not out.flags.owndata else out

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = self.ndim - (len(key) - 1)
            key = key[:i] + (slice(None),) * fill + key[i + 1 :]
        key = key + (slice(None),) * (self.ndim - len(key))
        nc = len(self.spec.coord_shape)
        ckey, fkey = key[:nc], key[nc:]
        # coordinate axes: each key becomes an index array (ints drop the axis)
        idx_lists = []
        keep = []
        for k, n in zip(ckey, self.spec.coord_shape):
            if isinstance(k, (int, np.integer)):
                kk = int(k) + (n if k < 0 else 0)
                if not 0 <= kk < n:
                    raise IndexError(f"index {k} out of range for axis of size {n}")
                idx_lists.append(np.array([kk]))
                keep.append(False)
            elif isinstance(k, slice):
                idx_lists.append(np.arange(n)[k])
                keep.append(True)
            else:
                idx_lists.append(np.arange(n)[np.asarray(k)])
                keep.append(True)
        grid = np.stack(np.meshgrid(*idx_lists, indexing="ij"), -1).reshape(-1, nc) if nc else np.zeros((1, 0), int)
        seqs = self.spec.to_seq(grid) if nc else np.zeros(1, np.int64)
        # rows to read (uncompressed frames: only these rows are touched)
        full_fkey = fkey
        ra = self.spec.row_axis
        if ra is None:
            y0 = y1 = h = 0
        else:
            rk = fkey[ra]
            h = self.spec.frame_shape[ra]
            if isinstance(rk, slice) and (rk.step in (None, 1)):
                y0, y1, _ = rk.indices(h)
                y1 = max(y0, y1)
                fkey = fkey[:ra] + (slice(None),) + fkey[ra + 1 :]
            else:
                y0, y1 = 0, h
        shape = [len(ix) for ix, k in zip(idx_lists, keep) if k]
        if len(seqs) == 0 or (ra is not None and y1 == y0 and h):
            probe = np.empty(self.spec.frame_shape, dtype=self.dtype)[full_fkey]
            return np.empty(tuple(shape) + probe.shape, dtype=self.dtype)
        rdr = self._rdr()

        def one(s: int) -> np.ndarray:
            raw = rdr.read_rows(int(s), y0, y1) if (y0, y1) != (0, h) else rdr.read_frame(int(s))
            got: np.ndarray = np.asarray(self.spec.frame_transform(raw))[fkey]
            return got

        fv = rdr.frames_view() if hasattr(rdr, "frames_view") else None
        if fv is not None and int(np.max(seqs)) < len(fv) and int(np.min(seqs)) >= 0:
            # evenly spaced uncompressed frames: one strided slice, one copy
            idx = np.asarray(seqs, dtype=np.intp)
            if len(idx) == 1 or bool((np.diff(idx) == 1).all()):
                # a run of frames: hint its pages (only the rows asked for), then a
                # strided view of them; the copy (if any) reads the stored bytes as
                # they lie (threads), and the transform of it is a view
                rows = slice(y0, y1) if ra is not None else slice(None)
                if hasattr(rdr, "prefetch_frames"):
                    band = (y0, y1) if ra is not None and (y0, y1) != (0, h) else None
                    rdr.prefetch_frames(int(idx[0]), int(idx[-1]) + 1, band)
                raw = fv[int(idx[0]) : int(idx[-1]) + 1, rows]
                if self.copy:
                    # from a worker thread (a dask task: dask runs its own pool) one
                    # thread copies; threads inside threads only contend for the cores
                    threads = None if threading.current_thread() is threading.main_thread() else 1
                    raw = copy_blocks(raw, threads)
                data = self.spec.frame_transform(raw)[(slice(None),) + tuple(fkey)]
            else:
                tv = self.spec.frame_transform(fv)  # a view: no pixel is copied yet
                data = tv[(idx,) + tuple(full_fkey)]  # the one copy
            return np.asarray(data, dtype=self.dtype).reshape(tuple(shape) + data.shape[1:])
        compressed = bool(getattr(rdr.frame_layout(), "compressed", False))
        if (y0, y1) == (0, h) and not compressed and hasattr(rdr, "read_frames"):
            # whole uncompressed frames: one batched read (one strided copy when evenly spaced)
            raw = rdr.read_frames(np.asarray(seqs, np.int64))
            data = self.spec.frame_transform(raw)[(slice(None),) + tuple(fkey)]
            return np.asarray(data, dtype=self.dtype).reshape(tuple(shape) + data.shape[1:])
        seq_list = [int(s) for s in seqs]
        first = one(seq_list[0])
        out = np.empty((len(seq_list),) + first.shape, dtype=self.dtype)
        out[0] = first
        if len(seq_list) > 1:
            if self._threads > 1 and len(seq_list) > 2 and compressed:
                with ThreadPoolExecutor(self._threads) as ex:
                    for i, arr in enumerate(ex.map(one, seq_list[1:]), start=1):
                        out[i] = arr
            else:
                for i, s in enumerate(seq_list[1:], start=1):
                    out[i] = one(s)
        return out.reshape(tuple(shape) + first.shape)
