"""Format-level reader for chunked ND2 files (versions 2.x and 3.x).

``ModernReader`` sits between the store and the public APIs: it finds chunks through
the chunk map, decodes metadata chunks to raw dicts (LiteVariant for 3.x, XML for
2.x) and decodes frames to numpy arrays. It knows nothing about nd2's or limnd2's
object models; ``nd2kit.model`` builds those from the raw dicts.
"""

from __future__ import annotations

import threading
import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._generated.fast import nd2_container as _g
from ..codecs import container
from ..codecs.chunk_map import ChunkMap, parse_chunk_map
from ..codecs.lite_variant import decode as decode_lv
from ..errors import ChunkNotFoundError, CorruptChunkError, Nd2Error, UnsupportedFormatError
from ..model.pixels import pixel_dtype
from ..storage.stores import Store

__all__ = ["ModernReader", "FrameLayout", "FRAME_PREFIX"]

FRAME_PREFIX = "ImageDataSeq|"
_HEAD = _g.ChunkHeader.SIZE
#: chunks up to this size (per the chunk map) are read with their header in one go
_ONE_READ_MAX = 1 << 20
#: bytes read from the end of the file at open: the trailer and usually the chunk map
_TAIL_READ = 16 * 1024
#: schema that selects everything: the same decoder (and warm code) as the partial reads
_WHOLE: dict = {"*": None}
_TIMESTAMP = 8  # f64 before the pixels (spec: image_frame.timestamp)

#: metadata chunk names by version: (3.x LiteVariant, 2.x XML) and root struct names
META_CHUNKS = {
    "attributes": ("ImageAttributesLV!", "ImageAttributes!", "SLxImageAttributes"),
    "metadata": ("ImageMetadataSeqLV|0!", "ImageMetadataSeq|0!", "SLxPictureMetadata"),
    "experiment": ("ImageMetadataLV!", "ImageMetadata!", "SLxExperiment"),
    "text_info": ("ImageTextInfoLV!", "ImageTextInfo!", "SLxImageTextInfo"),
}


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
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        head = store.read_into_bytes(0, min(store.size, 4096))
        major, minor = container.sniff_version(head)
        if major < 2:
            raise UnsupportedFormatError(
                "legacy JPEG 2000 ND2 (version 1.0) files are not supported yet", offset=0
            )
        self.version: tuple[int, int] = (major, minor)
        self._lock = threading.Lock()
        self._decoded: dict[tuple[str, bool], Any] = {}
        self._layout: FrameLayout | None = None
        self._frame_numbers: np.ndarray | None = None
        self._frame_rows: np.ndarray | None = None
        self._frame_data: np.ndarray | None = None
        self._spacing: int | None | bool = False
        self._first_pixels = 0
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
        try:
            map_offset = _g.MapTrailer.unpack(tail, len(tail) - container.TRAILER_SIZE)[1]
        except Nd2Error as e:
            raise e.at("<trailer>", at) from None
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
        if key not in self._decoded:
            info, data = self.chunk_bytes(name)
            first = data[:1]
            if first != b"\x0b" and (first == b"<" or data[:3] == b"\xef\xbb\xbf" or (
                    first.isspace() and data.lstrip()[:1] == b"<")):  # 0x0B: a LiteVariant LEVEL
                from ..codecs.xml_variant import decode_xml_variant

                try:
                    val = decode_xml_variant(data, strip_prefix=strip_prefix)
                except Nd2Error as e:
                    raise e.at(name, info.data_offset) from None
            else:
                val = decode_lv(data, strip_prefix=strip_prefix, chunk=name, base=info.data_offset,
                                schema=schema)
            self._decoded[key] = val
        return self._decoded[key]

    def meta_chunk_name(self, kind: str) -> str:
        """The chunk holding `kind` (attributes, metadata, experiment, text_info)."""
        lv, xml, _ = META_CHUNKS[kind]
        return lv if self.version >= (3, 0) else xml

    def raw(self, kind: str, schema: Any = None) -> dict:
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
            return d.get(META_CHUNKS[kind][2], d)
        return {}

    # ------------------------------------------------------------------ frames
    def frame_layout(self) -> FrameLayout:
        """Frame geometry and sample type from the image attributes."""
        if self._layout is None:
            a = self.raw("attributes")
            try:
                width, height = int(a["uiWidth"]), int(a["uiHeight"])
                comp = int(a["uiComp"])
                bits = int(a["uiBpcInMemory"])
            except KeyError as e:
                raise CorruptChunkError(f"image attributes lack {e.args[0]}",
                                        chunk=self.meta_chunk_name("attributes")) from None
            dt = pixel_dtype(bits, a.get("ePixelType"))
            stride = int(a.get("uiWidthBytes") or width * comp * dt.itemsize)
            if stride < width * comp * dt.itemsize:
                raise CorruptChunkError(
                    f"uiWidthBytes {stride} < width {width} x {comp} components x {dt.itemsize} bytes",
                    chunk=self.meta_chunk_name("attributes"))
            ecomp = a.get("eCompression", 2)
            self._layout = FrameLayout(height, width, comp, stride, dt, ecomp == 0, ecomp == 1)
        return self._layout

    def _frames(self) -> tuple[np.ndarray, np.ndarray]:
        if self._frame_numbers is None:
            self._frame_numbers, self._frame_rows = self.chunkmap.sequence(FRAME_PREFIX)
        return self._frame_numbers, self._frame_rows  # type: ignore[return-value]

    def frame_numbers(self) -> np.ndarray:
        """Sequence numbers N of the ``ImageDataSeq|N!`` chunks present, sorted."""
        return self._frames()[0]

    def frame_data_offsets(self) -> np.ndarray:
        """Offset of each present frame's payload (timestamp), in frame_numbers order.

        Read from every frame's chunk header at once when the store exposes a buffer
        (mmap or bytes); frames whose header is damaged get -1.
        """
        if self._frame_data is None:
            numbers, rows = self._frames()
            offs = self.chunkmap.offsets[rows].astype(np.int64)
            out = np.full(len(offs), -1, np.int64)
            buf = self.store.buffer
            if buf is not None and len(offs):
                u8 = np.frombuffer(buf, dtype=np.uint8)
                ok = (offs >= 0) & (offs + _HEAD <= len(u8))
                o = offs[ok]
                head = u8[o[:, None] + np.arange(_HEAD)].reshape(-1).view(_g.ChunkHeader.DTYPE)
                magic_ok = head["magic"] == np.void(container.CHUNK_MAGIC_BYTES)
                name_len = head["name_len"].astype(np.int64)
                data_len = head["data_len"]
                data_off = o + _HEAD + name_len
                fits = magic_ok & (data_off + data_len.astype(np.float64) <= len(u8))
                res = np.where(fits, data_off, -1)
                out[np.flatnonzero(ok)] = res
            else:
                # only the 16-byte headers: magic, name_len, data_len locate the payload
                size = self.store.size
                for k, off in enumerate(offs.tolist()):
                    try:
                        h = _g.ChunkHeader.parse(self.store.read_into_bytes(off, _HEAD))
                    except Nd2Error:
                        continue
                    data_off = off + _HEAD + h.name_len
                    if data_off + h.data_len <= size:
                        out[k] = data_off
            self._frame_data = out
        return self._frame_data

    def _locate(self, index: int) -> int:
        """Payload offset of frame `index`, or -1 when the chunk is missing/damaged."""
        numbers = self.frame_numbers()
        k = int(np.searchsorted(numbers, index))
        if k >= len(numbers) or numbers[k] != index:
            return -1
        return int(self.frame_data_offsets()[k])

    def has_frame(self, index: int) -> bool:
        return self._locate(index) >= 0

    def frame_name(self, index: int) -> str:
        return f"{FRAME_PREFIX}{index}!"

    def read_frame(self, index: int, *, copy: bool = False) -> np.ndarray:
        """Frame `index` as a ``(height, width, components)`` array in stored order.

        Uncompressed frames from mmap/in-memory stores are zero-copy read-only views
        (row padding skipped through strides) unless `copy`. Missing frames read as
        zeros with a warning; lossy frames raise UnsupportedFormatError.
        """
        lay = self.frame_layout()
        name = self.frame_name(index)
        if lay.lossy:
            raise UnsupportedFormatError(
                f"frame {index} uses lossy compression (eCompression 1), whose codec is unknown",
                chunk=name)
        off = self._locate(index)
        if off < 0:
            numbers = self.frame_numbers()
            total = max(int(self.raw("attributes").get("uiSequenceCount") or 0),
                        int(numbers[-1]) + 1 if len(numbers) else 0)
            if not 0 <= index < total:
                raise IndexError(f"frame {index} out of range (0 .. {total - 1})")
            warnings.warn(f"frame {index} ({name}) is missing; returning zeros", stacklevel=3)
            return np.zeros((lay.height, lay.width, lay.components), lay.dtype)
        if lay.compressed:
            info = self.chunk_info(name)
            raw = self.store.read_into_bytes(info.data_offset + _TIMESTAMP, info.data_len - _TIMESTAMP)
            d = zlib.decompressobj()
            try:
                block = d.decompress(raw, lay.nbytes + 1)
            except zlib.error as e:
                raise CorruptChunkError(f"frame {index}: bad zlib stream ({e})", chunk=name,
                                        offset=info.data_offset + _TIMESTAMP) from None
            if len(block) != lay.nbytes:
                raise CorruptChunkError(
                    f"frame {index}: inflates to {len(block)} bytes, expected {lay.nbytes}",
                    chunk=name, offset=info.data_offset + _TIMESTAMP)
            return self._view(block, 0, lay)
        start = off + _TIMESTAMP
        if start + lay.nbytes > self.store.size:
            raise CorruptChunkError(f"frame {index}: pixels run past the end of the file",
                                    chunk=name, offset=start)
        if self.store.buffer is not None:
            arr = self._view(self.store.buffer, start, lay)
            return arr.copy() if copy else arr
        return self._view(self.store.read_into_bytes(start, lay.nbytes), 0, lay)

    def read_rows(self, index: int, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` of frame `index`, touching only those rows when uncompressed."""
        lay = self.frame_layout()
        off = self._locate(index)
        if lay.compressed or off < 0 or lay.lossy:
            return self.read_frame(index)[y0:y1]
        y0 = min(max(0, y0), lay.height)
        y1 = min(max(y0, y1), lay.height)
        start = off + _TIMESTAMP + y0 * lay.stride
        n = max(0, y1 - y0) * lay.stride
        if self.store.buffer is not None:
            return _strided(self.store.buffer, start, y1 - y0, lay)
        return _strided(self.store.read_into_bytes(start, n), 0, y1 - y0, lay)

    def _view(self, buf: Any, start: int, lay: FrameLayout) -> np.ndarray:
        return _strided(buf, start, lay.height, lay)

    def frame_spacing(self) -> int | None:
        """Constant distance between consecutive frames' pixel blocks, if there is one.

        When frames 0..N-1 are all present, uncompressed and evenly spaced (as NIS
        writes them), the whole series is one strided view of the memory map. The
        spacing comes from the chunk map (no page of the file is touched per frame);
        the first and last frame headers are read to confirm where pixels start.
        """
        if self._spacing is not False:
            return self._spacing  # type: ignore[return-value]
        self._spacing = None
        lay = self.frame_layout()
        numbers, rows = self._frames()
        n = len(numbers)
        if lay.compressed or lay.lossy or self.store.buffer is None or not n:
            return None
        if numbers[0] != 0 or numbers[-1] != n - 1:
            return None
        offs = self.chunkmap.offsets[rows].astype(np.int64)
        d = np.diff(offs)
        if n > 1 and not (d == d[0]).all():
            return None
        first = self._data_offset_of(int(offs[0]), lay)
        last = self._data_offset_of(int(offs[-1]), lay)
        if first < 0 or last < 0 or last - first != (int(offs[-1]) - int(offs[0])):
            return None
        spacing = int(d[0]) if n > 1 else lay.nbytes + _TIMESTAMP
        if spacing < lay.nbytes:
            return None
        self._spacing = spacing
        self._first_pixels = first + _TIMESTAMP
        return spacing

    def _data_offset_of(self, chunk_offset: int, lay: FrameLayout) -> int:
        """Payload offset of the frame chunk at `chunk_offset` (-1 if it does not hold a frame)."""
        try:
            h = _g.ChunkHeader.parse(self.store.read_into_bytes(chunk_offset, _HEAD))
        except Nd2Error:
            return -1
        data = chunk_offset + _HEAD + h.name_len
        if h.data_len < _TIMESTAMP + lay.nbytes or data + h.data_len > self.store.size:
            return -1
        return data

    def frames_view(self) -> np.ndarray | None:
        """All frames as one read-only ``(N, height, width, components)`` strided view of
        the memory map (stored order), or None when frames are not evenly spaced."""
        spacing = self.frame_spacing()
        if spacing is None:
            return None
        lay = self.frame_layout()
        item = lay.dtype.itemsize
        arr = np.ndarray(shape=(len(self.frame_numbers()), lay.height, lay.width, lay.components),
                         dtype=lay.dtype, buffer=self.store.buffer, offset=self._first_pixels,
                         strides=(spacing, lay.stride, lay.components * item, item))
        arr.flags.writeable = False
        return arr


def _strided(buf: Any, start: int, rows: int, lay: FrameLayout) -> np.ndarray:
    item = lay.dtype.itemsize
    arr = np.ndarray(
        shape=(rows, lay.width, lay.components),
        dtype=lay.dtype,
        buffer=buf,
        offset=start,
        strides=(lay.stride, lay.components * item, item),
    )
    arr.flags.writeable = False  # views of the file (or the caller's buffer) are read-only
    return arr
