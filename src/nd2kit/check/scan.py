"""What both tools need to find chunks: file bytes, chunk kinds, header scanning.

* :class:`Source` / :func:`open_source` — the bytes of a path (mmap) or a buffer;
* :func:`chunk_kind` — a chunk's kind from its name and first payload bytes;
* :func:`scan_chunks` — chunks found by scanning for chunk headers (files whose
  map is unreadable);
* :func:`legacy_boxes` — the top-level boxes of a legacy (JPEG 2000) file.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Any

from ..codecs import container, jp2, names
from ..codecs import lite_variant as lv
from ..codecs.xml_variant import looks_like_xml
from ..errors import Nd2Error
from .report import Problem

__all__ = [
    "ChunkRow",
    "Source",
    "chunk_kind",
    "legacy_boxes",
    "legacy_map",
    "open_source",
    "scan_chunks",
]

SIGNATURE_NAME = names.SIGNATURE_NAME
FILEMAP_NAME = names.FILEMAP_NAME
CHUNK_MAGIC = container.CHUNK_MAGIC_BYTES
JP2_MAGIC = container.JP2_MAGIC_BYTES
#: end of the signature chunk (header, name, version field): where scanning starts
SIGNATURE_END = container.SIGNATURE_SIZE

#: how many payload bytes :func:`chunk_kind` looks at
KIND_HEAD = 2 + 2 * 255 + 12


@dataclass
class ChunkRow:
    """One line of the chunk table.

    ``source`` says where the row comes from: ``"map"`` (a chunk map entry, in map
    order ``index``), ``"signature"`` (the chunk at offset 0), ``"trailer"`` (the
    map chunk the trailer points at) or ``"scan"`` (found by scanning a file whose
    map is unreadable). ``size`` is the map's size field (-1 where the file stores
    size == offset, as nd2 reports it; None for rows not from the map);
    ``name_len``/``data_len``/``data_offset`` come from the chunk header (None when
    it cannot be read). ``problem`` is None for a sound row.
    """

    name: str
    offset: int
    kind: str
    source: str
    index: int | None = None
    size: int | None = None
    name_len: int | None = None
    data_offset: int | None = None
    data_len: int | None = None
    problem: str | None = None

    @property
    def end(self) -> int | None:
        """Offset of the byte after the payload (None when the header was unreadable)."""
        if self.data_offset is None or self.data_len is None:
            return None
        return self.data_offset + self.data_len

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "offset": self.offset,
            "kind": self.kind,
            "source": self.source,
            "index": self.index,
            "size": self.size,
            "name_len": self.name_len,
            "data_offset": self.data_offset,
            "data_len": self.data_len,
            "problem": self.problem,
        }


# ----------------------------------------------------------------------------- input


class Source:
    """File bytes for the tools: a read-only mmap for paths, the bytes themselves
    otherwise. Use as a context manager (closes the mmap)."""

    def __init__(self, src: Any) -> None:
        self.path: str | None = None
        self._mm: mmap.mmap | None = None
        if isinstance(src, (bytes, bytearray, memoryview)):
            self.buf: Any = bytes(src)
            return
        self.path = os.fspath(src)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                self.buf = b""
            else:
                self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                self.buf = self._mm

    def close(self) -> None:
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # a numpy view still exists; the GC will close it
                pass
            self._mm = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(src: Any) -> Source:
    """Open a path (str/PathLike) or wrap bytes. Raises OSError for unreadable paths."""
    return Source(src)


# ----------------------------------------------------------------------------- kinds


def chunk_kind(name: str, head: bytes = b"", data_len: int | None = None) -> str:
    """The kind of a chunk from its name and the first bytes of its payload."""
    n = len(head) if data_len is None else data_len
    if name == SIGNATURE_NAME:
        return "signature"
    if name == FILEMAP_NAME:
        return "map"
    if names.parse_frame_index(name) is not None:
        return "frame"
    if names.classify(name) is names.ChunkKind.RLE_MASK:
        return "rle-mask"
    if names.is_lite_variant_name(name):
        return "lite-variant"
    if looks_like_xml(head):
        return "xml"
    if name in names.LV_CUSTOM_NAMES and n > 0:
        return "lite-variant"
    if lv.looks_like(head, n):
        return "lite-variant"
    return "binary"


# ----------------------------------------------------------------------------- scanning


def _plausible_name(raw: bytes) -> str | None:
    bang = raw.find(b"!")
    if bang <= 0:
        return None
    name = raw[: bang + 1]
    if any(c < 0x20 or c > 0x7E for c in name):
        return None
    return name.decode("ascii")


def scan_chunks(
    buf: Any, start: int = 0, end: int | None = None
) -> tuple[list[ChunkRow], Problem | None]:
    """Find chunks by scanning for chunk headers (for files whose map is unreadable).

    Each hit of the chunk magic whose header and name look sound becomes a row
    (``source="scan"``) and the scan continues after its payload. Returns the rows
    and, when the file ends inside a chunk, a :class:`Problem` at the end of file.
    """
    size = len(buf)
    end = size if end is None else end
    rows: list[ChunkRow] = []
    pos = start
    stop: Problem | None = None
    while True:
        hit = buf.find(CHUNK_MAGIC, pos, end)
        if hit < 0:
            break
        pos = hit + 1
        if container.header_end(hit) > size:
            break
        h = container.read_header(buf, hit)
        if h.name_len == 0 or h.name_len > (1 << 20):
            continue
        name = _plausible_name(container.read_name_field(buf, hit, h.name_len))
        if name is None or len(name) > h.name_len:
            continue
        data_offset = h.data_offset
        row = ChunkRow(
            name=name,
            offset=hit,
            kind="binary",
            source="scan",
            name_len=h.name_len,
            data_offset=data_offset,
            data_len=h.data_len,
        )
        head = bytes(buf[data_offset : min(data_offset + KIND_HEAD, size)])
        row.kind = chunk_kind(name, head, h.data_len)
        rows.append(row)
        if h.end > size:
            row.problem = (
                f"data_len {h.data_len} runs past the end of the file: "
                f"the file ends {h.end - size} bytes early"
            )
            stop = Problem(
                size,
                f"file ends inside chunk {name!r} (header at {hit}); the file looks truncated",
                chunk=name,
            )
            break
        pos = max(pos, h.end)
    return rows, stop


# ----------------------------------------------------------------------------- legacy


def legacy_map(buf: Any) -> tuple[int, list[tuple[str, str, int]]]:
    """Offset of a legacy file's box map and its entries ``[(box_type, tag, offset)]``."""
    start, bm = jp2.read_box_map(buf)
    return start, [(e.box_type, e.tag, e.offset) for e in bm.entries]


def legacy_boxes(buf: Any, end: int) -> tuple[list[tuple[str, int, int]], Problem | None]:
    """Walk the top-level JP2 boxes in ``[0, end)``: ``[(type, offset, length)]``."""
    out: list[tuple[str, int, int]] = []
    pos = 0
    while pos < end:
        try:
            b = jp2.parse_box(buf, pos, end)
        except Nd2Error as e:
            return out, Problem(
                e.offset if e.offset is not None else pos, f"box at {pos} unreadable: {e.message}"
            )
        length = b._end_pos - pos
        out.append((b.box_type, pos, length))
        if length <= 0:
            return out, Problem(pos, "box of length 0 runs to the end of the stream")
        pos = b._end_pos
    return out, None

