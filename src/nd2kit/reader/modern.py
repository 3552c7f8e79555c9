"""Format-level reader for chunked ND2 files (versions 2.x and 3.x).

``ModernReader`` sits between the store and the public APIs: it finds chunks through
the chunk map, decodes metadata chunks to raw dicts (LiteVariant for 3.x, XML for
2.x) and decodes frames to numpy arrays. It knows nothing about nd2's or limnd2's
object models; ``nd2kit.model`` builds those from the raw dicts.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..codecs import container, frame, names
from ..codecs.chunk_map import ChunkMap, parse_chunk_map
from ..codecs.lite_variant import decode as decode_lv
from ..errors import ChunkNotFoundError, CorruptChunkError, Nd2Error, UnsupportedFormatError
from ..model import limits
from ..model._coerce import as_count
from ..model.pixels import frame_geometry
from ..storage.protocol import Store

__all__ = ["ModernReader", "FrameLayout", "FRAME_PREFIX"]

#: prefix of frame chunk names (``ImageDataSeq|N!``; the registry in :mod:`nd2kit.codecs.names`)
FRAME_PREFIX = names.FRAME_PREFIX
_HEAD = container.HEADER_SIZE
#: chunks up to this size (per the chunk map) are read with their header in one go
_ONE_READ_MAX = 1 << 20
#: bytes read from the end of the file at open: the trailer and usually the chunk map
_TAIL_READ = 16 * 1024
#: schema that selects everything: the same decoder (and warm code) as the partial reads
_WHOLE: dict[str, Any] = {"*": None}
_MISSING: Any = object()


class _Failed:
    """A metadata chunk that could not be decoded (kept so it is not decoded again)."""

    __slots__ = ("error",)

    def __init__(self, error: Nd2Error) -> None:
        self.error = error
#: payload offset of a frame whose header was not checked yet
_UNKNOWN = -2
#: frames at least this large at scattered positions get one read-ahead hint each
_WILL_EACH = 1 << 20
#: frames looked up by name before the frame table is built (then the table serves)
_DIRECT_MAX = 16
#: frame headers checked per vectorised step when the zero-copy view is validated
_CHECK_BLOCK = 1 << 16
#: up to this many frames, the zero-copy check reads their headers with positional reads
_CHECK_READS = 4096



@dataclass(frozen=True)
class FrameLayout:
    """How frame pixels sit in a chunk payload.

    Attributes
    ----------
    height, width, components : int
        Frame geometry (``components`` = all interleaved components, uiComp).
    stride : int
        Bytes per row (uiWidthBytes).
    dtype : numpy.dtype
        Little-endian sample type.
    compressed : bool
        Frames are zlib streams (eCompression 0).
    lossy : bool
        Frames use the unknown lossy codec (eCompression 1).
    """

    height: int
    width: int
    components: int
    stride: int
    dtype: np.dtype
    compressed: bool
    lossy: bool

    @property
    def nbytes(self) -> int:
        """Bytes of one frame's pixel block (rows including their padding)."""
        return self.height * self.stride

    @property
    def row_bytes(self) -> int:
        return self.width * self.components * self.dtype.itemsize


class ModernReader:
    """Chunks, raw metadata and frames of a version 2.x/3.x file.

    Parameters
    ----------
    store : Store
        Where the bytes come from.
    head : bytes, optional
        The file's first bytes when the caller has read them already.
    """

    def __init__(self, store: Store, head: bytes | None = None) -> None:
        self.store = store
        if store.size == 0:
            raise CorruptChunkError("file is empty", offset=0)
        if head is None:
            head = store.read_into_bytes(0, min(store.size, 4096))
        major, minor = container.sniff_version(head)
        if major < 2:
            raise UnsupportedFormatError(
                "legacy JPEG 2000 ND2 (version 1.0) files are not supported yet", offset=0
            )
        self.version: tuple[int, int] = (major, minor)
        self._lock = threading.Lock()
        self._decoded: dict[tuple[str, bool, int | None], Any] = {}
        #: most bytes one compressed metadata record may inflate to (model.limits)
        self.inflate_limit = limits.metadata_inflate_limit(store.size)
        self._layout: FrameLayout | None = None
        self._frame_numbers: np.ndarray | None = None
        self._frame_rows: np.ndarray | None = None
        self._chunk_offs = np.zeros(0, np.int64)
        self._data = np.zeros(0, np.int64)  # payload offset per frame slot; -2 unknown, -1 bad
        self._contig = True
        self._spacing: int | None | bool = False
        self._first_pixels = 0
        #: payload offsets of frames found by name before the frame table was built
        self._direct: dict[int, tuple[int, int]] = {}  # index -> (chunk offset, payload offset)
        self._hinted = (0, 0)  # the chunk extent the last fresh frame lookup hinted
        #: payload bytes a frame chunk needs to hold a frame (known once the layout is)
        self._need = 0
        self._total: int | None = None  # frame slots addressable (see _frame_total)
        self._tail_at, self._tail = self.store.size, b""
        self.map_offset, self.chunkmap = self._read_map()

    # ------------------------------------------------------------------ chunks
    def _read_map(self) -> tuple[int, ChunkMap]:
        size = self.store.size
        if size < container.TRAILER_SIZE + _HEAD:
            raise CorruptChunkError(f"file too short ({size} bytes)", offset=0)
        # one read for the trailer and, in most files, the whole map chunk before it
        at = size - min(size, _TAIL_READ)
        tail = self.store.read_into_bytes(at, size - at)
        self._tail_at, self._tail = at, tail  # metadata chunks written last are in it too
        map_offset = container.read_trailer(tail, base=at)
        if at <= map_offset < size - _HEAD:
            rel = map_offset - at
            info = container.parse_chunk_head(tail[rel : rel + _HEAD + container.NAME_WINDOW],
                                              map_offset, size, expect=container.FILEMAP_NAME)
            body = tail[info.data_offset - at : info.data_offset - at + info.data_len]
        else:
            info = self.chunk_info_at(map_offset, expect=container.FILEMAP_NAME)
            body = self.store.read_into_bytes(info.data_offset, info.data_len)
        return map_offset, parse_chunk_map(body, base=info.data_offset)

    def chunk_info_at(self, offset: int, *, expect: str | None = None) -> container.ChunkInfo:
        """Parse the chunk header (and name) at `offset`."""
        size = self.store.size
        if offset < 0 or offset + _HEAD > size:
            raise CorruptChunkError(f"chunk offset {offset} outside the file ({size} bytes)",
                                    chunk=expect, offset=offset)
        # names are short: read 256 bytes first, the whole name window only if needed
        n = min(size - offset, _HEAD + 256)
        head = self.store.read_into_bytes(offset, n)
        if b"!" not in head[_HEAD:] and n < size - offset:
            head = self.store.read_into_bytes(offset, min(size - offset, _HEAD + container.NAME_WINDOW))
        return container.parse_chunk_head(head, offset, size, expect=expect)

    def chunk_info(self, name: str) -> container.ChunkInfo:
        """Header info of the chunk `name` (located through the map)."""
        return self.chunk_info_at(self.chunkmap[name].offset, expect=name)

    def chunk_payload(self, name: str) -> bytes | memoryview:
        """Payload of the chunk `name` (zero-copy for mmap and in-memory stores)."""
        info = self.chunk_info(name)
        return self.store.read(info.data_offset, info.data_len)

    def chunk_bytes(self, name: str) -> tuple[container.ChunkInfo, bytes]:
        """Header info and payload (``bytes``) of the chunk `name`.

        When the map's size for the chunk is plausible, header, name and payload come
        from one read (the header still decides where the payload is)."""
        ref = self.chunkmap[name]
        size = self.store.size
        if 0 <= ref.size <= _ONE_READ_MAX and 0 <= ref.offset < size - _HEAD:
            n = min(size - ref.offset, _HEAD + container.NAME_WINDOW + ref.size)
            if ref.offset >= self._tail_at:  # already read at open
                blob = self._tail[ref.offset - self._tail_at : ref.offset - self._tail_at + n]
            else:
                blob = self.store.read_into_bytes(ref.offset, n)
            info = container.parse_chunk_head(blob, ref.offset, size, expect=name)
            at = info.data_offset - ref.offset
            if at + info.data_len <= len(blob):
                return info, blob[at : at + info.data_len]
        else:
            info = self.chunk_info_at(ref.offset, expect=name)
        return info, self.store.read_into_bytes(info.data_offset, info.data_len)

    def decode_chunk(self, name: str, strip_prefix: bool = False, schema: Any = None) -> Any:
        """Decode a metadata chunk: XML variant if it starts with ``<``, else LiteVariant.

        With `schema`, a LiteVariant chunk decodes only the keys it names (see
        :func:`nd2kit.codecs.lite_variant.decode`); XML chunks are decoded whole.
        """
        key = (name, strip_prefix, id(schema) if schema is not None else None)
        hit = self._decoded.get(key, _MISSING)
        if hit is _MISSING:
            try:
                hit = self._decode_chunk(name, strip_prefix, schema)
            except (CorruptChunkError, UnsupportedFormatError) as e:
                hit = _Failed(e)  # a damaged chunk is decoded (and inflated) once, not per access
            self._decoded[key] = hit
        if isinstance(hit, _Failed):
            raise hit.error.at() from None
        return hit

    def _decode_chunk(self, name: str, strip_prefix: bool, schema: Any) -> Any:
        info, data = self.chunk_bytes(name)
        first = data[:1]
        if first != b"\x0b" and (first == b"<" or data[:3] == b"\xef\xbb\xbf" or (
                first.isspace() and data.lstrip()[:1] == b"<")):  # 0x0B: a LiteVariant LEVEL
            from ..codecs.xml_variant import decode_xml_variant

            try:
                return decode_xml_variant(data, strip_prefix=strip_prefix)
            except Nd2Error as e:
                raise e.at(name, info.data_offset) from None
        return decode_lv(data, strip_prefix=strip_prefix, chunk=name, base=info.data_offset,
                         schema=schema, inflate_limit=self.inflate_limit)

    def meta_chunk_name(self, kind: str) -> str:
        """The chunk holding `kind` (attributes, metadata, experiment, text_info)."""
        return names.meta_chunk(kind, self.version)

    def raw(self, kind: str, schema: Any = None) -> dict[str, Any]:
        """Raw decoded dict of a metadata kind, root struct unwrapped; {} if absent.

        `schema` limits a LiteVariant decode to the keys a consumer reads."""
        name = self.meta_chunk_name(kind)
        try:
            d = self.decode_chunk(name, schema=_WHOLE if schema is None else schema)
        except ChunkNotFoundError as e:
            if e.chunk != name:
                raise
            if kind == "attributes":
                raise ChunkNotFoundError(f"required chunk {name!r} is missing", chunk=name) from None
            return {}
        if isinstance(d, dict):
            root = names.root_name(name)
            inner = d.get(root, d) if root is not None else d
            return inner if isinstance(inner, dict) else d
        return {}

    # ------------------------------------------------------------------ frames
    def frame_layout(self) -> FrameLayout:
        """Frame geometry and sample type from the image attributes.

        Built once per file and checked there (:func:`nd2kit.model.pixels.frame_geometry`):
        values of the wrong type or range, and frames the file cannot hold, raise
        :class:`~nd2kit.errors.CorruptChunkError` naming the attributes chunk and field.
        From then on a frame chunk whose payload is shorter than one frame counts as
        damaged (read as zeros with a warning).
        """
        if self._layout is None:
            a = self.raw("attributes")
            name = self.meta_chunk_name("attributes")
            ref = self.chunkmap.get(name)
            g = frame_geometry(a, chunk=name, offset=None if ref is None else int(ref.offset),
                               file_size=self.store.size)
            lay = FrameLayout(g.height, g.width, g.components, g.stride, g.dtype,
                              g.compression == 0, g.compression == 1)
            with self._lock:
                # frames located before the layout was known: check them again with the
                # payload size a frame needs
                self._need = frame.PIXELS_AT if lay.compressed or lay.lossy else frame.payload_size(lay.nbytes)
                self._data[self._data >= 0] = _UNKNOWN
                self._direct.clear()
                self._layout = lay
        return self._layout

    def _frames(self) -> tuple[np.ndarray, np.ndarray]:
        if self._frame_numbers is None:
            with self._lock:
                if self._frame_numbers is None:
                    numbers, rows = self.chunkmap.frames()
                    n = len(numbers)
                    raw_offs = self.chunkmap.offsets[rows]
                    offs = raw_offs.astype(np.int64)
                    # offsets outside the file (including those beyond int64) are damaged
                    # entries: -1, so no offset arithmetic can overflow
                    offs[raw_offs >= np.uint64(self.store.size)] = -1
                    self._chunk_offs = offs
                    self._data = np.full(n, _UNKNOWN, np.int64)
                    self._contig = bool(n == 0 or (numbers[0] == 0 and numbers[-1] == n - 1))
                    self._frame_rows = rows
                    for index, (at, d) in self._direct.items():  # headers checked by name
                        k = index if self._contig else int(np.searchsorted(numbers, index))
                        if 0 <= k < n and numbers[k] == index and self._chunk_offs[k] == at:
                            self._data[k] = d
                    self._frame_numbers = numbers
        return self._frame_numbers, self._frame_rows  # type: ignore[return-value]

    def frame_numbers(self) -> np.ndarray:
        """Sequence numbers N of the ``ImageDataSeq|N!`` chunks present, sorted."""
        return self._frames()[0]

    def frame_count(self) -> int:
        """Number of frame chunks present."""
        return len(self._frames()[0])

    def _slot(self, index: int) -> int:
        """Position of frame `index` in :meth:`frame_numbers`, or -1 if it has no chunk."""
        numbers = self._frames()[0]
        n = len(numbers)
        if self._contig:
            return index if 0 <= index < n else -1
        k = int(np.searchsorted(numbers, index))
        return k if k < n and numbers[k] == index else -1

    def _slots(self, indices: np.ndarray) -> np.ndarray:
        """:meth:`_slot` of many frame indices (-1 where there is no chunk)."""
        numbers = self._frames()[0]
        n = len(numbers)
        idx = np.asarray(indices, np.int64)
        if self._contig:
            return np.where((idx >= 0) & (idx < n), idx, -1)
        k = np.searchsorted(numbers, idx)
        kk = np.minimum(k, max(n - 1, 0))
        hit = (k < n) & (numbers[kk] == idx) if n else np.zeros(len(idx), bool)
        return np.where(hit, k, -1)

    def _locate_slots(self, slots: np.ndarray) -> np.ndarray:
        """Payload offsets of the frames at `slots` (all >= 0), reading only the headers
        not checked yet; -1 for chunks whose header is damaged."""
        self._frames()
        data = self._data
        got = data[slots]
        todo = np.unique(slots[got == _UNKNOWN])
        if len(todo):
            data[todo] = self._payload_array(self._chunk_offs[todo])
            got = data[slots]
        out: np.ndarray = got
        return out

    def _locate_slot(self, k: int) -> int:
        d = int(self._data[k])
        if d == _UNKNOWN:
            d = int(self._locate_slots(np.array([k], np.int64))[0])
        return d

    def frame_data_offsets(self) -> np.ndarray:
        """Offset of each present frame's payload (timestamp), in frame_numbers order;
        frames whose header is damaged get -1.

        Checks every frame's chunk header (vectorised when the store exposes a
        buffer); single-frame reads check only their own header.
        """
        n = self.frame_count()
        out: np.ndarray = self._locate_slots(np.arange(n, dtype=np.int64)).copy()
        return out

    def _locate(self, index: int) -> int:
        """Payload offset of frame `index`, or -1 when the chunk is missing/damaged."""
        return self._locate_fresh(index)[0]

    def _locate_fresh(self, index: int, hint: int = 0) -> tuple[int, bool]:
        """:meth:`_locate` and whether this is the first time the frame was located.

        Until the frame table is built (:meth:`_frames`, a pass over the whole chunk
        map), a frame is looked up by its chunk name and only its own header is
        read; a name that is not found (or a damaged header) falls back to the table,
        which decides. With `hint`, a chunk whose map entry says it holds at least
        `hint` bytes is hinted to the store (its header page and payload, read in
        together) before its header is read: the header check then costs no extra
        round trip to a cold disk."""
        if self._frame_numbers is None and len(self._direct) < _DIRECT_MAX:
            hit = self._direct.get(index)
            if hit is not None:
                return hit[1], False
            try:
                ref = self.chunkmap[names.frame_name(index)]
            except ChunkNotFoundError:
                ref = None
            if ref is not None and 0 <= ref.offset < self.store.size:
                if hint and ref.size >= hint:
                    self._hint_chunk(ref)
                d = self._payloads(np.array([ref.offset], np.int64))[0]
                if d >= 0:
                    self._direct[index] = (ref.offset, d)
                    return d, True
        k = self._slot(index)
        if k < 0:
            return -1, False
        fresh = int(self._data[k]) == _UNKNOWN and index not in self._direct
        return self._locate_slot(k), fresh

    def prefetch_frame(self, index: int) -> None:
        """Hint frame `index`'s chunk to the store when the map says it is large (at
        least 1 MiB), from the map alone: no header is read and no metadata is needed.

        A first read of a frame calls this before it parses the metadata that the
        frame's layout needs, so the frame's read-in from a cold disk overlaps that
        work. Advisory: a missing or damaged chunk is found (and reported) by the read.
        """
        if self._frame_numbers is not None:
            return  # the table is built: reads hint what they read
        try:
            ref = self.chunkmap[names.frame_name(int(index))]
        except (ChunkNotFoundError, ValueError, OverflowError):
            return
        if ref.size >= _WILL_EACH:
            self._hint_chunk(ref)

    def _hint_chunk(self, ref: Any) -> None:
        """Hint a frame chunk: its header page and payload (the map's data length plus a
        page for the header and name field); once per chunk in a row."""
        n = max(0, min(ref.size + 4096, self.store.size - ref.offset))
        lo, hi = self._hinted
        if (lo <= ref.offset and ref.offset + n <= hi or self.store.buffer is None
                or not 0 <= ref.offset < self.store.size):
            return
        self._will_frame(ref.offset, n)
        self._hinted = (ref.offset, ref.offset + n)

    def _hint_frame(self, start: int, n: int) -> None:
        """Hint a fresh frame's pixels unless :meth:`_locate_fresh` hinted its chunk."""
        lo, hi = self._hinted
        if not lo <= start <= start + n <= hi:
            self._will_frame(start, n)

    def _payload_array(self, offs: np.ndarray) -> np.ndarray:
        """Payload offsets of the chunks at `offs` from their headers (-1: damaged, or a
        payload shorter than a frame)."""
        buf = self.store.buffer
        if buf is not None:
            res: np.ndarray = container.locate_payloads(buf, offs, min_len=self._need)[0]
        else:
            res = container.locate_payloads_with(self.store.read_ranges, self.store.size, offs,
                                                 min_len=self._need)[0]
        return res

    def _payloads(self, offs: np.ndarray) -> list[int]:
        """:meth:`_payload_array` as a list."""
        out: list[int] = self._payload_array(offs).tolist()
        return out

    def has_frame(self, index: int) -> bool:
        """True when frame `index` has a chunk with a sound header."""
        return self._locate(index) >= 0

    def frame_name(self, index: int) -> str:
        return names.frame_name(index)

    def _frame_total(self) -> int:
        """Frame slots a file addresses: the largest of ``uiSequenceCount``, the
        experiment loops' product and the last frame chunk present + 1 (what the
        nd2- and limnd2-compatible layers address), capped at
        :data:`nd2kit.model.limits.MAX_FRAMES`. Frames inside it without a sound
        chunk read as zeros."""
        if self._total is None:
            numbers = self.frame_numbers()
            seq = as_count(self.raw("attributes").get("uiSequenceCount"))
            try:
                from ..model.experiment import READ_SCHEMA, load_experiment, seq_count

                loops = load_experiment(self.raw("experiment", schema=READ_SCHEMA))
                product = seq_count(loops) if loops else 0
            except Nd2Error:
                product = 0
            last = int(numbers[-1]) + 1 if len(numbers) else 0
            self._total = min(max(seq, product, last), max(limits.MAX_FRAMES, last))
        return self._total

    def _missing(self, index: int, lay: FrameLayout) -> np.ndarray:
        total = self._frame_total()
        if not 0 <= index < total:
            raise IndexError(f"frame {index} out of range (0 .. {total - 1})")
        warnings.warn(f"frame {index} ({self.frame_name(index)}) is missing or damaged; "
                      "returning zeros", stacklevel=4)
        return np.zeros((lay.height, lay.width, lay.components), lay.dtype)

    def _lossy(self, index: int) -> UnsupportedFormatError:
        return UnsupportedFormatError(
            f"frame {index} uses lossy compression (eCompression 1), whose codec is unknown",
            chunk=self.frame_name(index))

    def _inflate(self, index: int, lay: FrameLayout) -> bytes:
        name = self.frame_name(index)
        info = self.chunk_info(name)
        payload = self.store.read(info.data_offset, info.data_len)
        return frame.inflate_pixels(payload, lay.nbytes, chunk=name, base=info.data_offset,
                                    label=f"frame {index}")

    def _pixels_at(self, index: int, payload: int, lay: FrameLayout) -> int:
        start = frame.pixel_offset(payload)
        if start + lay.nbytes > self.store.size:
            raise CorruptChunkError(f"frame {index}: pixels run past the end of the file",
                                    chunk=self.frame_name(index), offset=start)
        return start

    def read_frame(self, index: int, *, copy: bool = False) -> np.ndarray:
        """Frame `index` as a ``(height, width, components)`` array in stored order.

        Uncompressed frames from mmap/in-memory stores are zero-copy read-only views
        (row padding skipped through strides) unless `copy`. Missing frames read as
        zeros with a warning; lossy frames raise UnsupportedFormatError. Only this
        frame's chunk header is checked.
        """
        lay = self.frame_layout()
        if lay.lossy:
            raise self._lossy(index)
        # fresh: first read of this frame (a large uncompressed one is hinted at once)
        off, fresh = self._locate_fresh(index, 0 if lay.compressed else _WILL_EACH)
        if off < 0:
            return self._missing(index, lay)
        if lay.compressed:
            return self._view(self._inflate(index, lay), 0, lay)
        start = self._pixels_at(index, off, lay)
        buf = self.store.buffer
        if buf is not None:
            if fresh and lay.nbytes >= _WILL_EACH:
                self._hint_frame(start, lay.nbytes)
            arr = self._view(buf, start, lay)
            return arr.copy() if copy else arr
        return self._view(self.store.read_into_bytes(start, lay.nbytes), 0, lay)

    def read_frames(self, indices: Any) -> np.ndarray:
        """Frames `indices` as a new ``(len(indices), height, width, components)`` array.

        Uncompressed frames are read in one batch: one strided copy when they are
        evenly spaced in a memory-mapped / in-memory file, else one copy per frame;
        stores without a buffer read all pixel blocks through one
        :meth:`~nd2kit.storage.Store.read_ranges` call (coalesced, concurrent for
        remote stores). Missing frames are zeros (with a warning), as in
        :meth:`read_frame`.
        """
        lay = self.frame_layout()
        idx = np.asarray(indices, np.int64).reshape(-1)
        out = np.empty((len(idx), lay.height, lay.width, lay.components), lay.dtype)
        if not len(idx):
            return out
        if lay.lossy:
            raise self._lossy(int(idx[0]))
        slots = self._slots(idx)
        data = np.full(len(idx), -1, np.int64)
        present = slots >= 0
        data[present] = self._locate_slots(slots[present])
        good = data >= 0
        for j in np.flatnonzero(~good).tolist():
            out[j] = self._missing(int(idx[j]), lay)
        if lay.compressed:
            for j in np.flatnonzero(good).tolist():
                out[j] = self._view(self._inflate(int(idx[j]), lay), 0, lay)
            return out
        g = np.flatnonzero(good)
        pix = frame.pixel_offsets(data[g])
        bad = np.flatnonzero(pix + lay.nbytes > self.store.size)
        if len(bad):
            j = int(g[bad[0]])
            self._pixels_at(int(idx[j]), int(data[j]), lay)  # raises
        buf = self.store.buffer
        if buf is not None:
            will = getattr(self.store, "will_need", None)
            item = lay.dtype.itemsize
            whole = len(g) == len(idx)
            if not len(pix):
                return out
            step = np.diff(pix)
            if len(pix) > 1 and not (int(step[0]) > 0 and bool((step == step[0]).all())):
                self._gather(buf, pix, out, None if whole else g, lay, will)
                return out
            # evenly spaced (as NIS writes files): one strided copy
            first = int(pix[0])
            spacing = int(step[0]) if len(step) else lay.nbytes
            if will is not None:
                will(first, int(pix[-1]) - first + lay.nbytes)
            src = np.ndarray(shape=(len(pix), lay.height, lay.width, lay.components),
                             dtype=lay.dtype, buffer=buf, offset=first,
                             strides=(spacing, lay.stride, lay.components * item, item))
            if whole:
                np.copyto(out, src)
            else:
                out[g] = src
            return out
        blobs = self.store.read_ranges([(p, lay.nbytes) for p in pix.tolist()])
        for j, blob in zip(g.tolist(), blobs):
            out[j] = self._view(blob, 0, lay)
        return out

    def _will_frame(self, start: int, n: int) -> None:
        """Start reading bytes ``start:start+n`` in (only those pages; no read-ahead)."""
        will = getattr(self.store, "will_need", None)
        if will is None:
            return
        try:
            will(start, n, sequential=False)
        except TypeError:  # a store whose will_need takes no `sequential`
            will(start, n)

    @staticmethod
    def _gather(buf: Any, pix: np.ndarray, out: np.ndarray, rows: np.ndarray | None,
                lay: FrameLayout, will: Callable[[int, int], None] | None) -> None:
        """Copy frames at arbitrary pixel offsets `pix` into ``out`` (its rows `rows`, or
        all of them) with one numpy gather of every frame row (row padding skipped)."""
        row = lay.row_bytes
        if not row or not lay.height:
            return
        if will is not None:
            lo, hi = int(pix.min()), int(pix.max()) + lay.nbytes
            if hi - lo <= 2 * len(pix) * lay.nbytes:  # the frames are most of the span
                will(lo, hi - lo)
            elif lay.nbytes >= _WILL_EACH:  # large frames: a hint per frame is cheap
                for p in pix.tolist():
                    will(p, lay.nbytes)
        # every position of the file seen as the start of a row: row r of the frame at
        # p is element p + r * stride
        size = len(np.frombuffer(buf, np.uint8))
        win = np.ndarray(shape=(size - row + 1,), dtype=np.dtype((np.void, row)), buffer=buf,
                         strides=(1,))
        starts = (pix[:, None] + np.arange(lay.height, dtype=np.int64) * lay.stride).reshape(-1)
        got = win[starts].view(np.uint8).view(lay.dtype).reshape((len(pix),) + out.shape[1:])
        if rows is None:
            out[...] = got
        else:
            out[rows] = got

    def read_rows(self, index: int, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` of frame `index`, touching only those rows when uncompressed."""
        lay = self.frame_layout()
        off = self._locate(index)
        if lay.compressed or off < 0 or lay.lossy:
            return self.read_frame(index)[y0:y1]
        y0 = min(max(0, y0), lay.height)
        y1 = min(max(y0, y1), lay.height)
        start = self._pixels_at(index, off, lay) + y0 * lay.stride
        n = max(0, y1 - y0) * lay.stride
        buf = self.store.buffer
        if buf is not None:
            if n >= _WILL_EACH:  # a large band: its pages in one go, not a fault each
                self._will_frame(start, n)
            return _strided(buf, start, y1 - y0, lay)
        return _strided(self.store.read_into_bytes(start, n), 0, y1 - y0, lay)

    def frame_getter(self, transform: Callable[[np.ndarray], np.ndarray] | None = None
                     ) -> Callable[[int], np.ndarray | None] | None:
        """A fast zero-copy frame reader for uncompressed frames of buffer stores.

        `transform` must be a pure view transform (reshape / transpose / reversed
        axes / squeeze) of a ``(height, width, components)`` frame; its shape and
        strides are worked out once, so each call builds the final view with one
        ``np.ndarray`` call. The getter returns None for frames it cannot serve
        (missing, damaged): the caller falls back to :meth:`read_frame`. Returns
        None when frames are compressed or the store has no buffer.
        """
        lay = self.frame_layout()
        buf = self.store.buffer
        if lay.compressed or lay.lossy or buf is None:
            return None
        size, nbytes, pix_at = self.store.size, lay.nbytes, frame.PIXELS_AT
        if nbytes > size:
            return None  # no frame fits in the file
        # shape and strides of the transformed view, from a view at the start of the
        # file (building views touches no page; no frame header is read for it)
        tmpl = self._view(buf, 0, lay)
        out = transform(tmpl) if transform is not None else tmpl
        if out.base is None or not np.shares_memory(out, tmpl):
            return None  # the transform copies: not a view transform
        shape, strides, dt = out.shape, out.strides, lay.dtype
        delta = out.__array_interface__["data"][0] - tmpl.__array_interface__["data"][0]
        nd, locate, slot, will = np.ndarray, self._locate_slot, self._slot, self._hint_frame
        located, direct = self._locate_fresh, self._direct
        # large frames only: a view of a small one is often cropped (a hint would read it all),
        # and its few page faults cost little
        big = nbytes >= _WILL_EACH
        table: list[Any] = [None]  # (count, contiguous, payload offsets) once the table is built

        def get(index: int) -> np.ndarray | None:
            t = table[0]
            if t is None:
                if self._frame_numbers is None and len(direct) < _DIRECT_MAX:
                    # the first few frames: by name, no frame table
                    d, fresh = located(int(index), _WILL_EACH if big else 0)
                    if d < 0:
                        return None
                    p = d + pix_at
                    if p + nbytes > size:
                        return None
                    if fresh and big:
                        will(p, nbytes)
                    first: np.ndarray = nd(shape, dt, buf, p + delta, strides)
                    return first
                numbers = self._frames()[0]
                t = table[0] = (len(numbers), self._contig, self._data)
            n, contig, data = t
            k = int(index)
            if not contig:
                k = slot(k)
            if not 0 <= k < n:
                return None
            d = data.item(k)
            fresh = False
            if d < 0:
                if d != _UNKNOWN:
                    return None
                d = locate(k)
                if d < 0:
                    return None
                fresh = int(index) not in direct
            p = d + pix_at
            if p + nbytes > size:
                return None
            if fresh and big:  # first read of a large frame: start reading its pixels in
                will(p, nbytes)
            arr: np.ndarray = nd(shape, dt, buf, p + delta, strides)
            return arr

        return get

    def _view(self, buf: Any, start: int, lay: FrameLayout) -> np.ndarray:
        return _strided(buf, start, lay.height, lay)

    def frame_spacing(self) -> int | None:
        """Constant distance between consecutive frames' pixel blocks, if there is one.

        When frames 0..N-1 are all present, sound, uncompressed and evenly spaced (as
        NIS writes them), the whole series is one strided view of the memory map. The
        spacing comes from the chunk map; every frame's chunk header is checked once
        (vectorised): a single damaged or short frame chunk refuses the view, so that
        the zero-copy paths never show a damaged frame's bytes (the copying paths
        read it as zeros with a warning).
        """
        if self._spacing is not False:
            return self._spacing if isinstance(self._spacing, int) else None
        self._spacing = None
        lay = self.frame_layout()
        numbers, _ = self._frames()
        n = len(numbers)
        if lay.compressed or lay.lossy or self.store.buffer is None or not n:
            return None
        if not self._contig:
            return None
        offs = self._chunk_offs
        d = np.diff(offs)
        if n > 1 and not (d == d[0]).all():
            return None
        spacing = int(d[0]) if n > 1 else frame.payload_size(lay.nbytes)
        if spacing < lay.nbytes:
            return None
        if n <= _CHECK_READS:
            # few frames: positional reads of their headers cost less than the page faults
            # of touching them through the map (each header is on a page of its own)
            self._check_by_reads(n)
        first = -1
        for a in range(0, n, _CHECK_BLOCK):  # blocks: bounded temporary memory
            data = self._locate_slots(np.arange(a, min(n, a + _CHECK_BLOCK), dtype=np.int64))
            if a == 0:
                first = int(data[0])
            if int(data.min()) < 0 or not (data == first + spacing * np.arange(a, a + len(data))).all():
                return None
        self._spacing = spacing
        self._first_pixels = frame.pixel_offset(first)
        return spacing

    def _check_by_reads(self, n: int) -> None:
        """Locate the payloads of frame slots ``0:n`` not checked yet through the store's
        positional reads (``read_into_bytes``, or one ``read_many`` call where the store
        has it) instead of the memory map."""
        todo = np.flatnonzero(self._data[:n] == _UNKNOWN)
        if not len(todo):
            return
        store = self.store
        many = getattr(store, "read_many", None)

        def reads(ranges: Any) -> list[bytes]:
            sizes = {k for _, k in ranges}
            if many is not None and len(sizes) == 1:  # equal lengths: one call, one blob
                return [many([o for o, _ in ranges], sizes.pop())]
            return [store.read_into_bytes(o, k) for o, k in ranges]

        found = container.locate_payloads_with(reads, store.size, self._chunk_offs[todo],
                                               min_len=self._need)[0]
        with self._lock:
            self._data[todo] = found

    def prefetch_frames(self, start: int, stop: int, rows: tuple[int, int] | None = None) -> None:
        """Hint the store that frames ``start:stop`` of :meth:`frames_view` are about to be
        copied (the memory map reads them ahead; it reads nothing ahead otherwise).

        With `rows` ``(y0, y1)`` narrower than the frame, only each frame's row band is
        hinted (no read-ahead past it)."""
        spacing = self.frame_spacing()
        will = getattr(self.store, "will_need", None)
        if spacing is None or will is None or stop <= start:
            return
        lay = self.frame_layout()
        first = self._first_pixels + start * spacing
        if rows is not None:
            y0 = min(max(0, rows[0]), lay.height)
            y1 = min(max(y0, rows[1]), lay.height)
            if (y0, y1) != (0, lay.height):
                band = (y1 - y0) * lay.stride
                many = getattr(self.store, "will_need_ranges", None)
                if band <= 0 or many is None:
                    return
                starts = first + y0 * lay.stride + np.arange(stop - start, dtype=np.int64) * spacing
                many(starts.tolist(), band)
                return
        will(first, (stop - start - 1) * spacing + lay.nbytes)

    def frames_view(self) -> np.ndarray | None:
        """All frames as one read-only ``(N, height, width, components)`` strided view of
        the memory map (stored order), or None when frames are not evenly spaced."""
        spacing = self.frame_spacing()
        if spacing is None:
            return None
        lay = self.frame_layout()
        item = lay.dtype.itemsize
        arr: np.ndarray = np.ndarray(shape=(self.frame_count(), lay.height, lay.width, lay.components),
                         dtype=lay.dtype, buffer=self.store.buffer, offset=self._first_pixels,
                         strides=(spacing, lay.stride, lay.components * item, item))
        arr.flags.writeable = False
        return arr


def _strided(buf: Any, start: int, rows: int, lay: FrameLayout) -> np.ndarray:
    item = lay.dtype.itemsize
    arr: np.ndarray = np.ndarray(
        shape=(rows, lay.width, lay.components),
        dtype=lay.dtype,
        buffer=buf,
        offset=start,
        strides=(lay.stride, lay.components * item, item),
    )
    arr.flags.writeable = False  # views of the file (or the caller's buffer) are read-only
    return arr
