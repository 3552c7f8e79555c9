"""Legacy (version 1.0) JPEG 2000 ND2 files: box tree and LIM box map (``docs/format.md#legacy_jp2``).

Reading and writing use the codecs generated from ``spec/legacy_jp2.ksy``. The box
map uses 16-byte entries with little-endian u64 offsets (what nd2 reads; limnd2's
12-byte stride is a known bug).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._generated.fast import legacy_jp2 as _g
from ..errors import CorruptChunkError, Nd2Error

__all__ = ["Box", "BOX_MAP_COUNT_SIZE", "BOX_MAP_ENTRY_SIZE", "BOX_MAP_TRAILER_SIZE",
           "JP2_SIGNATURE_BOX", "LIMND2_BOX_MAP_ENTRY_SIZE", "LegacyFile", "box_map_field_position",
           "box_payload_offset", "build_legacy", "check_signature", "J2K_CODESTREAM_START",
           "is_codestream", "parse_box", "read_box_map",
           "read_box_map_trailer", "trailer_field_position"]

#: the trailer signature (spec: box_map_trailer.signature; contents are written from the spec)
MAP_SIGNATURE: bytes = bytes(_g.BoxMapTrailer(distance=0).to_bytes()[:32])
#: the 12-byte JPEG 2000 signature box a legacy file starts with (spec: signature_box)
JP2_SIGNATURE_BOX: bytes = bytes(_g.SignatureBox(len=12).to_bytes())
_SUPERBOXES = {"jp2h"}
#: size of the box map trailer at the end of a legacy file (spec: box_map_trailer)
BOX_MAP_TRAILER_SIZE: int = _g.BoxMapTrailer.SIZE
#: size of the box map's entry count (spec: box_map.count)
BOX_MAP_COUNT_SIZE: int = len(_g.BoxMap(count=0, entries=[]).to_bytes())
_ENTRY = _g.BoxMapEntry(box_type="    ", tag="    ", offset=0)
#: size of one box map entry (spec: box_map_entry)
BOX_MAP_ENTRY_SIZE: int = len(_ENTRY.to_bytes())
#: the entry size limnd2 writes (a u4 offset instead of the spec's u8: a known bug)
LIMND2_BOX_MAP_ENTRY_SIZE: int = BOX_MAP_ENTRY_SIZE - 4


def _field_starts(node_cls: Any, sample: dict[str, Any]) -> dict[str, int]:
    """Start of each field of a fixed-size record, found by building `sample` and
    changing one field at a time (the layout comes from the generated writer)."""
    base = bytes(node_cls(**sample).to_bytes())
    out = {}
    for k, v in sample.items():
        other = dict(sample)
        other[k] = v + 1 if isinstance(v, int) else "x" * len(v)
        alt = bytes(node_cls(**other).to_bytes())
        out[k] = next(i for i, (a, c) in enumerate(zip(base, alt)) if a != c)
    return out


_ENTRY_FIELDS = _field_starts(_g.BoxMapEntry, {"box_type": "    ", "tag": "    ", "offset": 0})
_TRAILER_FIELDS = {k: int(v[1]) for k, v in (_g.BoxMapTrailer.DTYPE.fields or {}).items()}


def box_map_field_position(entry: Any, field: str) -> int:
    """File offset of `field` (``box_type``, ``tag``, ``offset``) of a parsed box map
    entry (a node of :func:`read_box_map`)."""
    return int(entry._pos) + _ENTRY_FIELDS[field]


def trailer_field_position(file_size: int, field: str) -> int:
    """File offset of `field` (``signature``, ``distance``) of the box map trailer of a
    file of `file_size` bytes."""
    return file_size - BOX_MAP_TRAILER_SIZE + _TRAILER_FIELDS[field]


def read_box_map_trailer(buf: Any) -> int:
    """The trailer's distance from the end of the file back to the box map.

    Raises
    ------
    CorruptChunkError
        The last bytes are not the trailer (offset of the bad field).
    """
    size = len(buf)
    return int(_g.BoxMapTrailer.parse(buf, size - BOX_MAP_TRAILER_SIZE, size).distance)


@dataclass
class Box:
    """One JP2 box: type, payload (or children for superboxes), and position when read."""

    box_type: str
    payload: bytes = b""
    children: list[Box] = field(default_factory=list)
    tag: str | None = None
    offset: int | None = None

    def to_node(self) -> Any:
        """The generated ``Box`` record for this box (lengths computed)."""
        if self.box_type in _SUPERBOXES or self.children:
            body: Any = _g.BoxList(boxes=[c.to_node() for c in self.children])
            n = 8 + len(body.to_bytes())
        elif self.box_type == "ihdr" and len(self.payload) == _g.ImageHeader.SIZE:
            body = _g.ImageHeader.parse(self.payload)
            n = 8 + _g.ImageHeader.SIZE
        else:
            body = self.payload
            n = 8 + len(body)
        if n < 2**32:
            return _g.Box(len=n, box_type=self.box_type, len_ext=None, body=body, body_ext=None,
                          body_to_end=None)
        return _g.Box(len=1, box_type=self.box_type, len_ext=n + 8, body=None, body_ext=body,
                      body_to_end=None)

    def encode(self) -> bytes:
        """Serialize the box (and its children)."""
        return bytes(self.to_node().to_bytes())


@dataclass
class LegacyFile:
    """A parsed legacy file: top-level boxes (tagged from the map) and the raw map."""

    boxes: list[Box]
    entries: list[tuple[str, str, int]]
    map_offset: int

    def by_tag(self, tag: str) -> list[Box]:
        """Boxes the map tags `tag` (``LUNK``, ``VIMD``, ...), in map order."""
        pos = {b.offset: b for b in self.boxes}
        return [pos[o] for t, g, o in self.entries if g == tag and o in pos]


def _to_box(b: Any, buf: Any) -> Box:
    if isinstance(b.body, _g.BoxList):
        return Box(b.box_type, b"", [_to_box(c, buf) for c in b.body.boxes], offset=b._pos)
    head = b.header_len
    # payload as stored (an ihdr body may be longer than the 14 bytes the spec names)
    return Box(b.box_type, bytes(buf[b._pos + head : b._end_pos]), offset=b._pos)


def check_signature(buf: Any) -> None:
    """Check the JPEG 2000 signature box at offset 0.

    Raises
    ------
    CorruptChunkError
        The first 12 bytes are not the signature box (chunk ``"jP  "``, offset of the
        first wrong field).
    """
    try:
        _g.SignatureBox.parse(buf, 0, min(len(buf), len(JP2_SIGNATURE_BOX)))
    except Nd2Error as e:
        raise e.at("jP  ") from None


def parse_box(buf: Any, start: int, end: int) -> Any:
    """Parse the box at `start` (bounded by `end`) through the generated codec.

    Returns the generated ``Box`` node: ``box_type``, ``header_len``, ``_pos`` and
    ``_end_pos`` (absolute offsets of the box and of the byte after it).
    """
    try:
        return _g.Box.parse(buf, start, end)
    except RecursionError:
        raise CorruptChunkError("JP2 superboxes nested too deeply", chunk="<jp2 boxes>",
                                offset=start) from None


#: the first markers of a JPEG 2000 codestream: SOC (FF 4F) then SIZ (FF 51)
J2K_CODESTREAM_START = b"\xff\x4f\xff\x51"


def is_codestream(payload_head: Any) -> bool:
    """True when `payload_head` (the first bytes of a ``jp2c``/LUNK box payload) starts
    with the SOC and SIZ markers of a JPEG 2000 codestream."""
    return bytes(payload_head[: len(J2K_CODESTREAM_START)]) == J2K_CODESTREAM_START


def box_payload_offset(buf: Any, start: int, end: int) -> int:
    """Offset of the payload of the box at `start`: after its 8- or 16-byte header
    (:func:`parse_box`'s ``header_len``).

    Raises
    ------
    CorruptChunkError
        The box header cannot be read.
    """
    return int(start + parse_box(buf, start, end).header_len)


def read_box_map(buf: Any) -> tuple[int, Any]:
    """Locate the box map through the trailer and parse it (without the boxes).

    Returns
    -------
    (start, node)
        File offset of the box map and the generated ``BoxMap`` node (``count``,
        ``entries`` with ``box_type``/``tag``/``offset``, ``_end_pos``).

    Raises
    ------
    Nd2Error
        Bad trailer, a distance pointing outside the file (offset of the distance
        field), or unreadable entries.
    """
    size = len(buf)
    at = size - BOX_MAP_TRAILER_SIZE
    distance = read_box_map_trailer(buf)
    start = size - distance
    if start < 0 or start > at:
        raise CorruptChunkError(f"box map distance {distance} points outside the file",
                                chunk="<trailer>", offset=trailer_field_position(size, "distance"))
    return start, _g.BoxMap.parse(buf, start, at)


def read_legacy(buf: Any) -> LegacyFile:
    """Parse a legacy file's boxes and box map.

    Raises
    ------
    CorruptChunkError
        Bad trailer, map, or box lengths (offset = position in the file).
    """
    try:
        f = _g.LegacyJp2.parse(buf)
        trailer = f.trailer
        bmap = f.box_map
        boxes = f.boxes
        entries = [(e["box_type"], e["tag"], e["offset"]) for e in
                   ({"box_type": x.box_type, "tag": x.tag, "offset": x.offset} for x in bmap.entries)]
        out = [_to_box(b, buf) for b in boxes.boxes]
    except Nd2Error as e:
        raise e.at("<jp2 boxes>") from None
    except RecursionError:
        raise CorruptChunkError("JP2 superboxes nested too deeply", chunk="<jp2 boxes>", offset=0) from None
    tags = {o: g for _, g, o in entries}
    for b in out:
        b.tag = tags.get(b.offset)
    return LegacyFile(out, entries, len(buf) - trailer.distance)


def build_legacy(boxes: list[Box]) -> bytes:
    """Write top-level boxes, then the box map (tag per box, default = box type) and trailer."""
    parts: list[bytes] = []
    entries = []
    pos = 0
    for b in boxes:
        blob = b.encode()
        entries.append(_g.BoxMapEntry(box_type=b.box_type, tag=b.tag or b.box_type, offset=pos))
        parts.append(blob)
        pos += len(blob)
    bmap = _g.BoxMap(count=len(entries), entries=entries).to_bytes()
    total = pos + len(bmap) + _g.BoxMapTrailer.SIZE
    trailer = _g.BoxMapTrailer(signature=MAP_SIGNATURE, distance=total - pos).to_bytes()
    out: bytes = b"".join(parts) + bmap + trailer
    if len(out) != total:  # pragma: no cover - arithmetic guard
        raise CorruptChunkError("internal size mismatch while building legacy file")
    return out
