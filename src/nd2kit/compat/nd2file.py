"""nd2-compatible API: :class:`ND2File`, :func:`imread`, :func:`is_supported_file`, :func:`is_legacy`.

Names, arguments and returned values follow nd2 0.12 so that existing code keeps
working. Deliberate differences (documented in docs/reading.md):

* RGB samples are returned in R, G, B order; files store B, G, R (``docs/format.md``,
  section ``image_frame``) and nd2 returns the stored order under R, G, B labels;
* signed and 32-bit integer images get their true dtype from ``ePixelType``;
* uncompressed frames are located through the chunk header's ``name_len`` (nd2
  assumes ``chunk + 4096``, which reads garbage on files with other padding);
* ``asarray(copy=False)`` returns a read-only zero-copy view when possible.
"""

from __future__ import annotations

import math
import operator
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import model
from .._cache import cached_property
from ..codecs import names
from ..codecs.custom_data import decode_f8_array, decode_i4_array
from ..errors import CorruptChunkError, Nd2Error
from ..model import frames as model_frames
from ..model.experiment import READ_SCHEMA as _EXP_READ
from ..model.metadata import CHANNEL_COUNT_SCHEMA as _COUNT_READ
from ..model.metadata import READ_SCHEMA as _META_READ
from ..model.structures import Attributes, ExpLoop, FrameMetadata, Metadata, TextInfo
from ..reader import Reader, open_reader
from ..reader.lazy import (
    FrameArray,
    FrameSpec,
    FrameTransform,
    LiveOpener,
    RavelToSeq,
    SourceOpener,
    copy_blocks,
    source_of,
)
from ..reader.planning import plan_chunks
from ..storage import Store, open_store

__all__ = ["ND2File", "imread", "is_supported_file", "is_legacy", "VoxelSize"]

from typing import NamedTuple

_UNSET: Any = object()  # a cached property not computed yet


class VoxelSize(NamedTuple):
    """Voxel size in µm (x, y, z), as nd2's ``VoxelSize``."""

    x: float
    y: float
    z: float


class ND2File:
    """An open ND2 file (versions 2.x and 3.x), with nd2 0.12's API.

    Parameters
    ----------
    path : str, PathLike, bytes, memoryview, or binary file object
        Local path (memory-mapped), in-memory bytes, a file-like object, or an
        fsspec URL (``s3://...``, ``https://...``).
    validate_frames : bool
        Check that every frame chunk is where the chunk map says (frame headers are
        read and verified at open).
    search_window : int
        Accepted for compatibility with nd2; unused.
    storage_options : dict, optional
        Passed to fsspec for URLs.
    """

    def __init__(self, path: Any, *, validate_frames: bool = False, search_window: int = 100,
                 storage_options: dict[str, Any] | None = None) -> None:
        self._src = source_of(path)
        self._storage_options = storage_options
        self._given = path
        self._lock = threading.RLock()
        self._store: Store | None = None
        self._rdr: Reader | None = None
        self._path = (os.fspath(path) if isinstance(path, (str, os.PathLike))
                      else str(getattr(path, "name", "") or ""))
        self._validate = validate_frames
        self.open()

    # ------------------------------------------------------------------ lifecycle
    @staticmethod
    def is_supported_file(path: Any, storage_options: dict[str, Any] | None = None) -> bool:
        """True if `path` starts like an ND2 file (modern or legacy)."""
        return is_supported_file(path, storage_options)

    def open(self) -> None:
        """Open (or reopen) the file."""
        with self._lock:
            if self._rdr is not None:
                return
            src = self._given if self._store is None and self._src is None else (self._src if self._src is not None else self._given)
            self._store = open_store(src, storage_options=self._storage_options)
            try:
                self._rdr = open_reader(self._store)
            except Exception:
                self._store.close()
                self._store = None
                raise
            if self._validate:
                self._rdr.frame_data_offsets()

    def close(self) -> None:
        """Close the file; arrays and dask graphs made earlier stay usable."""
        with self._lock:
            # a caller's file object stays usable for the lazy arrays made from it
            if self._store is not None and self._src is not None:
                self._store.close()
            self._rdr = None
            self.__dict__.pop("_fast_frame", None)

    @property
    def closed(self) -> bool:
        return self._rdr is None

    def __enter__(self) -> ND2File:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        if self._src is None:
            raise TypeError("an ND2File opened from a file object cannot be pickled")
        return {"src": self._src, "storage_options": self._storage_options,
                "closed": self.closed, "validate": self._validate, "path": self._path}

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__init__(d["src"], validate_frames=d["validate"],  # type: ignore[misc]
                      storage_options=d["storage_options"])
        self._path = d["path"]
        if d["closed"]:
            self.close()

    @property
    def _reader(self) -> Reader:
        rdr = self._rdr
        if rdr is None:
            raise ValueError("Attempt to read from closed nd2 file")
        return rdr

    def _opener(self) -> SourceOpener | LiveOpener:
        if self._src is None:
            return LiveOpener(self._reader)
        return SourceOpener(self._src, self._storage_options, reader=self._rdr)

    # ------------------------------------------------------------------ identity
    @property
    def path(self) -> str:
        """Path (or URL) of the file."""
        return self._path

    @cached_property
    def version(self) -> tuple[int, ...]:
        """Format version ``(major, minor)``."""
        return tuple(self._reader.version)

    @property
    def is_legacy(self) -> bool:
        """Always False here: legacy (v1) files raise UnsupportedFormatError for now."""
        return False

    def __repr__(self) -> str:
        try:
            details = f" {self.dtype}: {dict(self.sizes)!r}" if not self.closed else " (closed)"
        except Exception:  # pragma: no cover - repr must not fail
            details = ""
        return f"<ND2File at {hex(id(self))}: {os.path.basename(self._path)!r}{details}>"

    # ------------------------------------------------------------------ metadata
    @cached_property
    def _raw_meta(self) -> dict[str, Any]:
        # only the keys the model reads: unread subtrees (camera settings ...) are skipped
        return self._reader.raw("metadata", schema=_META_READ)

    @cached_property
    def attributes(self) -> Attributes:
        """Core image attributes (nd2 ``Attributes``)."""
        rdr = self._reader
        raw = rdr.raw("attributes")
        name = rdr.meta_chunk_name("attributes")
        # the channel count alone needs one key of the picture metadata: decode just that
        # unless the metadata is decoded already (selected values equal a full decode's)
        meta = self.__dict__.get("_raw_meta")
        if meta is None:
            meta = rdr.raw("metadata", schema=_COUNT_READ)
        return model.load_attributes(raw, model.channel_count(meta), chunk=name,
                                     offset=self._chunk_offset(name))

    def _chunk_offset(self, name: str) -> int | None:
        ref = self._reader.chunkmap.get(name)
        return None if ref is None else int(ref.offset)

    @cached_property
    def experiment(self) -> list[ExpLoop]:
        """Acquisition loops, outermost first (nd2 ``ExpLoop`` list)."""
        return model.load_experiment(self._reader.raw("experiment", schema=_EXP_READ))

    @cached_property
    def text_info(self) -> TextInfo:
        """Descriptive text (description, optics, capturing, date, ...)."""
        return model.load_text_info(self._reader.raw("text_info"))

    @cached_property
    def metadata(self) -> Metadata:
        """Global and per-channel metadata (nd2 ``Metadata``)."""
        return model.load_metadata(self._raw_meta, self.attributes, self.experiment, self.text_info)

    # ------------------------------------------------------------------ per frame
    def _per_frame(self, name: str, decode: Callable[..., np.ndarray]) -> np.ndarray | None:
        """A per-frame array chunk decoded by `decode`, None when the file has none."""
        if name not in self._reader.chunkmap:
            return None
        info = self._reader.chunk_info(name)
        return decode(self._reader.chunk_payload(name), chunk=name, base=info.data_offset)

    @cached_property
    def _frame_times(self) -> np.ndarray | None:
        """``CustomData|AcqTimesCache!``: acquisition time of each frame, ms."""
        return self._per_frame(names.ACQ_TIMES_CACHE, decode_f8_array)

    @cached_property
    def _pfs_status(self) -> np.ndarray | None:
        """``CustomData|PFS_STATUS!``: Perfect Focus status code of each frame."""
        return self._per_frame(names.PFS_STATUS, decode_i4_array)

    def frame_metadata(self, seq_index: int | tuple[int, ...]) -> FrameMetadata:
        """Metadata of one frame: every channel with the frame's stage position,
        acquisition time and Perfect Focus status (nd2 ``frame_metadata``).

        Parameters
        ----------
        seq_index : int or tuple of int
            Sequence index of the frame, or its loop coordinates in the order of
            ``sizes`` without C, Y, X, S.

        Returns
        -------
        FrameMetadata
            As nd2 0.12 returns it. A frame without an acquisition time (no
            ``CustomData|AcqTimesCache!``, or a cache shorter than the frames) gets NaN
            times and a warning (once per file; nd2 raises IndexError): nd2kit does not
            make times up.

        Raises
        ------
        IndexError
            `seq_index` is not a frame of the file.
        """
        if isinstance(seq_index, tuple):
            try:
                seq = int(np.ravel_multi_index(seq_index, self._coord_shape))
            except ValueError as e:
                raise IndexError(f"frame coordinates {seq_index} outside {self._coord_shape}") from e
        else:
            seq = operator.index(seq_index)
        loops = self.loop_indices
        n = len(loops) if self.experiment else 1
        if seq < 0:
            seq += n
        if not 0 <= seq < n:
            raise IndexError(f"frame {seq_index} out of range for {n} frames")
        times = self._frame_times
        frame_time = float(times[seq]) if times is not None and seq < len(times) else None
        if frame_time is None and not self.__dict__.get("_warned_no_times"):
            # no cache, or one shorter than the frames (an acquisition stopped early)
            self.__dict__["_warned_no_times"] = True
            warnings.warn(f"{os.path.basename(self._path)}: no acquisition time recorded for "
                          f"frame {seq} (CustomData|AcqTimesCache!); its time is NaN", stacklevel=2)
        pfs = self._pfs_status
        status = int(pfs[seq]) if pfs is not None and seq < len(pfs) else None
        position, time = model.metadata.global_position_time(self._raw_meta)
        return model_frames.load_frame_metadata(self.metadata, self.experiment, position, time,
                                                frame_time, loops[seq] if self.experiment else {},
                                                status)

    @cached_property
    def custom_data(self) -> dict[str, Any]:
        """Decoded ``CustomDataVar|...!`` chunks keyed by the name between ``|`` and ``!``."""
        out = {}
        for name in self._reader.chunkmap:
            kind, tag, _ = names.parse(name)
            if kind is names.ChunkKind.CUSTOM_DATA_VAR and tag is not None:
                out[tag] = self._reader.decode_chunk(name, strip_prefix=True)
        return out

    def unstructured_metadata(self, *, strip_prefix: bool = True, include: set[str] | None = None,
                              exclude: set[str] | None = None) -> dict[str, Any]:
        """Every metadata chunk decoded (LiteVariant or XML), keyed by name without ``!``.

        Chunks that do not decode are returned as raw bytes (as nd2 does).
        """
        rdr = self._reader
        keys = {n[:-1] for n in rdr.chunkmap
                if not n.startswith(("ImageDataSeq", "CustomData", "ND2 FILE SIGNATURE"))}
        keys.discard(names.FILEMAP_NAME[:-1])
        if include:
            missing = [k for k in include if k not in keys]
            for k in missing:
                warnings.warn(f"Key {k!r} not found in metadata", stacklevel=2)
            keys = {k for k in include if k in keys}
        if exclude:
            keys -= set(exclude)
        out: dict[str, Any] = {}
        for key in sorted(keys):
            try:
                out[key] = rdr.decode_chunk(f"{key}!", strip_prefix=strip_prefix)
            except Nd2Error:
                out[key] = rdr.store.read_into_bytes(*(lambda i: (i.data_offset, i.data_len))(rdr.chunk_info(f"{key}!")))
        return out

    # ------------------------------------------------------------------ geometry
    @cached_property
    def sizes(self) -> Mapping[str, int]:
        """Axis names and sizes in array order (``T``, ``P``, ``Z``, ``C``, ``Y``, ``X``, ``S``)."""
        sizes = model.sizes_from(self.attributes, self.experiment)
        self._check_frames()
        stored = self.attributes.sequenceCount or 0
        if self.experiment and stored and stored != self._frame_count:
            # the documented rule (docs/robustness.md): the array follows the loops, as in
            # nd2; frames the loops address but the file does not hold read as zeros
            warnings.warn(
                f"{os.path.basename(self._path)}: the experiment's loops address {self._frame_count} frames "
                f"but the attributes count {stored} (uiSequenceCount): the array follows the "
                + ("loops; the missing frames read as zeros" if stored < self._frame_count else
                   f"loops; the last {stored - self._frame_count} frames are not in it"),
                stacklevel=3,
            )
        return MappingProxyType(sizes)

    def _check_frames(self) -> None:
        """The model-boundary rule for the frame count the loops address (done once,
        by :attr:`sizes`): ``count x (frame bytes + overhead)`` may not exceed
        :func:`nd2kit.model.limits.alloc_limit` of the file size (frames the file does
        not store read as zeros, as in nd2, but nothing is sized beyond that bound)."""
        if not self.experiment:
            return
        a = self.attributes
        row = max(a.widthBytes or 0, (a.widthPx or 0) * a.componentCount * max(a.bitsPerComponentInMemory // 8, 1))
        name = self._reader.meta_chunk_name("experiment")
        model.limits.check_frames(model.seq_count(self.experiment), a.heightPx * row,
                                  self._reader.store.size, chunk=name,
                                  field="SLxExperiment.uLoopPars.uiCount",
                                  offset=self._chunk_offset(name))

    @cached_property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.sizes.values())

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @cached_property
    def dtype(self) -> np.dtype[Any]:
        """Sample dtype (from ePixelType; 32-bit without it is float32)."""
        dt: np.dtype[Any] = np.dtype(self._reader.frame_layout().dtype.newbyteorder("="))
        return dt

    @property
    def components_per_channel(self) -> int:
        return model.components_per_channel(self.attributes)

    @property
    def is_rgb(self) -> bool:
        return self.components_per_channel in (3, 4)

    def voxel_size(self, channel: int = 0) -> VoxelSize:
        """Voxel size in µm from channel 0's axes calibration (1, 1, 1 when unknown)."""
        return VoxelSize(*model.voxel_size(self.metadata))

    @cached_property
    def loop_indices(self) -> tuple[dict[str, int], ...]:
        """Loop coordinates of every frame, in sequence order."""
        self._check_frames()
        return model.loop_indices(self.experiment)

    @cached_property
    def _coord_shape(self) -> tuple[int, ...]:
        return tuple(v for k, v in self.sizes.items() if k not in "CYXS")

    @cached_property
    def _frame_shape(self) -> tuple[int, ...]:
        return tuple(v for k, v in self.sizes.items() if k in "CYXS")

    @property
    def _frame_count(self) -> int:
        return int(math.prod(x.count for x in self.experiment)) if self.experiment else 1

    @cached_property
    def _raw_frame_shape(self) -> tuple[int, int, int, int]:
        a = self.attributes
        nc, cpc = a.channelCount or 1, self.components_per_channel
        if cpc == 3 and nc * 3 != a.componentCount:
            name = self._reader.meta_chunk_name("metadata")
            raise CorruptChunkError(
                f"{nc} RGB planes of 3 components do not make the {a.componentCount} components "
                "of a pixel (uiComp)", chunk=name, field="SLxPictureMetadata.sPicturePlanes.uiCount",
                offset=self._chunk_offset(name))
        if nc < 1 or cpc < 1 or nc * cpc != a.componentCount:
            # planes that do not divide the components: every component is a channel,
            # which is what ``sizes`` says (C = uiComp) for anything but RGB
            nc, cpc = a.componentCount, 1
        return (a.heightPx, a.widthPx or 1, nc, cpc)

    # ------------------------------------------------------------------ pixels
    @cached_property
    def _transform(self) -> FrameTransform:
        """(rows, width, comp) stored order -> nd2's frame layout (C, Y, X[, S])."""
        a = self.attributes
        return FrameTransform(self._raw_frame_shape[2], self._raw_frame_shape[3],
                              drop_y=a.heightPx == 1, drop_x=(a.widthPx or 1) == 1)

    @cached_property
    def _fast_frame(self) -> Callable[[int], np.ndarray | None] | None:
        """Zero-copy getter built once: uncompressed frames of mapped/in-memory files,
        already in nd2's layout (one ``np.ndarray`` call per frame)."""
        if self.components_per_channel not in (1, 3):
            return None
        return self._reader.frame_getter(self._transform)

    def read_frame(self, frame_index: int) -> np.ndarray:
        """Frame `frame_index` (sequence order) shaped like one entry of ``asarray``.

        Raises
        ------
        IndexError
            Outside ``0 .. max(frame count, uiSequenceCount) - 1``.
        """
        get: Callable[[int], np.ndarray | None] | None = self.__dict__.get("_fast_frame", _UNSET)
        if get is _UNSET:  # the first read: start the frame's read-in, then parse metadata
            self._reader.prefetch_frame(frame_index)
            get = self._fast_frame
        if get is not None:
            arr = get(frame_index)
            if arr is not None:
                return arr
        i = int(frame_index)
        n = max(self._frame_count, self.attributes.sequenceCount or 0)
        if not 0 <= i < n and not self._reader.has_frame(i):
            raise IndexError(f"Frame out of range: {i} (the file has {n} frames)")
        return self._transform(self._reader.read_frame(i))

    @cached_property
    def _row_axis(self) -> int | None:
        frame_axes = [k for k in self.sizes if k in "CYXS"]
        return frame_axes.index("Y") if "Y" in frame_axes else None

    @cached_property
    def _seq_from_coords(self) -> RavelToSeq:
        return RavelToSeq(self._coord_shape)

    def _zero_copy(self) -> np.ndarray | None:
        """All frames as a read-only view shaped like ``shape`` (None if not possible)."""
        rdr = self._reader
        nframes = int(math.prod(self._coord_shape)) if self._coord_shape else 1
        fv = rdr.frames_view()
        if fv is None or len(fv) < nframes or self.components_per_channel not in (1, 3):
            return None
        out = self._transform(fv[:nframes]).reshape(tuple(self._coord_shape) + tuple(self._frame_shape))
        out.flags.writeable = False
        return out

    def asarray(self, position: int | str | None = None, *, copy: bool = True) -> np.ndarray:
        """The whole image (or one XY position) as a numpy array.

        Parameters
        ----------
        position : int or str, optional
            Only this XY position (index or name); the ``P`` axis is kept with size 1.
        copy : bool
            False: return a read-only zero-copy view of the memory map when the
            uncompressed frames are evenly spaced (O(1)); a copy otherwise.
        """
        final_shape = list(self.shape)
        ncoord = len(self._coord_shape)
        if position is not None:
            if isinstance(position, str):
                names = self._position_names()
                if position not in names:
                    raise ValueError(f"{position!r} is not a valid position name")
                position = names.index(position)
            keys = list(self.sizes)
            if position < 0:
                raise ValueError(f"position must be >= 0, got {position}")
            if "P" not in keys:
                if position > 0:
                    raise IndexError(f"Position {position} is out of range. Only 1 position available")
                position = None
            else:
                pidx = keys.index("P")
                if position >= self.sizes["P"]:
                    raise IndexError(f"Position {position} is out of range. "
                                     f"Only {self.sizes['P']} positions available")
        zc = self._zero_copy() if self._reader.store.buffer is not None else None
        if zc is not None:
            view = zc if position is None else zc[(slice(None),) * pidx + (slice(position, position + 1),)]
            if not copy:
                return view
            if position is None:
                # copy the stored bytes as they lie (no de-interleaving pass), on threads:
                # the copy and its page faults are the whole cost; peak memory is 1x
                nframes = int(math.prod(self._coord_shape)) if self._coord_shape else 1
                fv = self._reader.frames_view()
                assert fv is not None  # _zero_copy() succeeded
                self._reader.prefetch_frames(0, nframes)
                raw = copy_blocks(fv[:nframes])
                return self._transform(raw).reshape(view.shape)
            return np.array(view, dtype=self.dtype)
        if position is None:
            seqs = list(range(self._frame_count)) if ncoord else [0]
        else:
            ranges: list[Any] = [range(n) for n in self._coord_shape]
            ranges[pidx] = (position,)
            grid = np.array(list(product(*ranges)), dtype=np.int64).reshape(-1, ncoord)
            seqs = self._seq_from_coords(grid).tolist()
            final_shape[pidx] = 1
        lay = self._reader.frame_layout()
        if not lay.compressed and not lay.lossy and self.components_per_channel in (1, 3):
            # one batch: a strided copy per run of evenly spaced frames (mapped files) or
            # one read_ranges call (other stores); missing frames are zeros, as read_frame
            raw = self._reader.read_frames(seqs)
            return self._transform(raw).reshape(final_shape)
        out = np.empty((len(seqs),) + self._frame_shape, dtype=self.dtype)
        if lay.compressed and len(seqs) > 2:
            with ThreadPoolExecutor(min(4, os.cpu_count() or 2)) as ex:
                for i, fr in enumerate(ex.map(self.read_frame, seqs)):
                    out[i] = fr
        else:
            for i, s in enumerate(seqs):
                out[i] = self.read_frame(s)
        return out.reshape(final_shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.asarray()
        return arr if dtype is None else arr.astype(dtype)

    def _frame_array(self, copy: bool = False) -> FrameArray:
        spec = FrameSpec(self._coord_shape, self._seq_from_coords, self._frame_shape,
                         self._transform, self._row_axis)
        return FrameArray(self._opener(), spec, self.dtype, copy=copy)

    def _dask_chunks(self, target_bytes: int | None = None) -> tuple[tuple[int, ...], ...]:
        """Chunks of several frames (dask's ``array.chunk-size``, 128 MiB by default);
        row chunks when one uncompressed frame is larger than that."""
        if target_bytes is None:
            import dask
            from dask.utils import parse_bytes

            target_bytes = int(parse_bytes(dask.config.get("array.chunk-size", "128MiB")))
        return plan_chunks(self._coord_shape, self._frame_shape, self.dtype.itemsize,
                           row_axis=self._row_axis, target_bytes=target_bytes,
                           split_rows=not self._reader.frame_layout().compressed)

    def to_dask(self, wrapper: bool = True, copy: bool = False) -> Any:
        """A dask array reading frames lazily (several frames per chunk; row chunks for
        large uncompressed frames). Valid after ``close()`` and after pickling.

        Parameters
        ----------
        wrapper : bool
            Accepted for nd2 compatibility (nd2kit's array needs no wrapper: it
            reopens its file by itself when needed).
        copy : bool
            If True, every chunk is read into new memory. By default (False) the
            chunks of evenly spaced uncompressed frames are read-only views of the
            file's memory map, and dask makes the one copy when it assembles a
            ``compute()`` result (whose memory is always new, single chunks
            included): half the peak memory, and reductions read the file without
            copying it. nd2's default is True because its views can outlive its map;
            nd2kit's map lives as long as any view of it.
        """
        import uuid

        import dask.array as da

        arr = self._frame_array(copy)
        return da.from_array(arr, chunks=self._dask_chunks(), asarray=False, fancy=True,  # type: ignore[no-untyped-call]
                             name=f"nd2kit-{uuid.uuid4().hex}",
                             meta=np.empty((0,) * arr.ndim, dtype=self.dtype))

    def _position_names(self, loop: Any = None) -> list[str]:
        if loop is None:
            loop = next((c for c in self.experiment if c.type == "XYPosLoop"), None)
        if loop is None:
            return ["XYPos:0"]
        return [p.name or f"XYPos:{i}" for i, p in enumerate(loop.parameters.points)]

    @property
    def _channel_names(self) -> list[str]:
        return [c.channel.name for c in self.metadata.channels or []]

    def _expand_coords(self, squeeze: bool = True) -> dict[str, Any]:
        dx, dy, dz = self.voxel_size()
        coords: dict[str, Any] = {
            "Y": np.arange(self.attributes.heightPx) * dy,
            "X": np.arange(self.attributes.widthPx or 1) * dx,
            "C": self._channel_names,
            "P": ["XYPos:0"],
        }
        for c in self.experiment:
            if squeeze and c.count <= 1:
                continue
            if c.type == "ZStackLoop":
                coords["Z"] = np.arange(c.count) * c.parameters.stepUm
            elif c.type == "TimeLoop":
                p = c.parameters
                step = p.periodDiff.avg if p.periodDiff and p.periodDiff.avg is not None else p.periodMs
                coords["T"] = np.arange(c.count) * step
            elif c.type == "NETimeLoop":
                coords["T"] = np.hstack([
                    np.arange(p.count) * (p.periodDiff.avg if p.periodDiff and p.periodDiff.avg is not None else p.periodMs)
                    for p in c.parameters.periods])
            elif c.type == "XYPosLoop":
                coords["P"] = self._position_names(c)
        if self.components_per_channel > 1:
            coords["S"] = ["Red", "Green", "Blue", "alpha"][: self.components_per_channel]
        if "Z" in self.sizes and "Z" not in coords:
            coords["Z"] = np.arange(self.sizes["Z"]) * dz
        if squeeze:
            coords = {k: v for k, v in coords.items() if len(v) > 1}
        return coords

    def to_xarray(self, delayed: bool = True, squeeze: bool = True, position: int | None = None,
                  copy: bool = True) -> Any:
        """A labelled ``xarray.DataArray`` (dask-backed when `delayed`).

        Coordinates as nd2 (µm for X/Y/Z, ms for T, channel and position names) plus
        stage positions of XY points (``P`` non-dimension coords ``stage_x/y/z``) and
        ``units`` in every coordinate's attrs.
        """
        import xarray as xr

        data = self.to_dask(copy=copy) if delayed else self.asarray(position)
        dims = list(self.sizes)
        coords = self._expand_coords(squeeze)
        if not squeeze:
            for missing in set(coords).difference(dims):
                dims.insert(0, missing)
            extra = len(dims) - data.ndim
            if extra > 0:
                data = data[(np.newaxis,) * extra]
        if position is not None and not delayed and "P" in coords:
            coords["P"] = [coords["P"][position]]
        # a coordinate the array has no axis of that length for (a damaged file whose
        # metadata promise an axis its frames lack) is left out, not an xarray error
        shape = dict(zip(dims, data.shape))
        coords = {k: v for k, v in coords.items() if shape.get(k) == len(v)}
        units = {"X": "µm", "Y": "µm", "Z": "µm", "T": "ms"}
        xcoords: dict[str, Any] = {k: xr.Variable(k, v, attrs={"units": units[k]} if k in units else {})
                                   for k, v in coords.items()}
        xy = next((c for c in self.experiment if c.type == "XYPosLoop"), None)
        if xy is not None and "P" in dims:
            pts = xy.parameters.points
            if position is not None and not delayed:
                pts = [pts[position]]
            if len(pts) == len(xcoords["P"]):
                for i, ax in enumerate("xyz"):
                    vals = [(p.stagePositionUm[i] if p.stagePositionUm is not None else np.nan) for p in pts]
                    xcoords[f"stage_{ax}"] = xr.Variable("P", vals, attrs={"units": "µm"})
        x = xr.DataArray(data, dims=dims, coords=xcoords, attrs={"metadata": {
            "metadata": self.metadata, "experiment": self.experiment,
            "attributes": self.attributes, "text_info": self.text_info}})
        if delayed and position is not None and "P" in coords:
            x = x.isel(P=[position])
        return x.squeeze() if squeeze else x


def is_supported_file(path: Any, storage_options: dict[str, Any] | None = None) -> bool:
    """True if `path` starts with the modern chunk magic or the JPEG 2000 signature box."""
    try:
        store = open_store(path, storage_options=storage_options)
    except (OSError, TypeError, Nd2Error):
        return False
    try:
        head = store.read_into_bytes(0, min(4, store.size))
    except Nd2Error:
        return False
    finally:
        if not isinstance(path, (bytes, bytearray, memoryview)):
            store.close()
    return head in (b"\xda\xce\xbe\x0a", b"\x00\x00\x00\x0c")


def is_legacy(path: Any) -> bool:
    """True for legacy JPEG 2000 (version 1.0) files."""
    try:
        store = open_store(path)
    except Nd2Error:
        return False
    try:
        return store.size >= 4 and store.read_into_bytes(0, 4) == b"\x00\x00\x00\x0c"
    finally:
        store.close()


def imread(file: Any, *, dask: bool = False, xarray: bool = False, validate_frames: bool = False,
           storage_options: dict[str, Any] | None = None, copy: bool = True) -> Any:
    """Read a whole file: numpy array (default), dask array or xarray DataArray.

    ``copy=False`` returns a read-only zero-copy view of the memory map when frames
    are uncompressed and evenly spaced (as NIS writes them).
    """
    f = ND2File(file, validate_frames=validate_frames, storage_options=storage_options)
    try:
        if xarray:
            return f.to_xarray(delayed=dask)
        if dask:
            return f.to_dask()
        return f.asarray(copy=copy)
    finally:
        if copy or dask or xarray:
            f.close()
