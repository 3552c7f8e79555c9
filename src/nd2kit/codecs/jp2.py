"""Legacy (version 1.0) JPEG 2000 ND2 files (format notes §5): box tree and LIM box map.

Reading and writing use the codecs generated from ``spec/legacy_jp2.ksy``. The box
map uses 16-byte entries with little-endian u64 offsets (what nd2 reads; limnd2's
12-byte stride is a known bug).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._generated.fast import legacy_jp2 as _g
from ..errors import CorruptChunkError, Nd2Error

__all__ = ["Box", "LegacyFile", "read_legacy", "build_legacy"]

MAP_SIGNATURE = b"LABORATORY IMAGING ND BOX MAP 00"
_SUPERBOXES = {"jp2h"}


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
        return self.to_node().to_bytes()


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
    head = 16 if b.len == 1 else 8
    # payload as stored (an ihdr body may be longer than the 14 bytes the spec names)
    return Box(b.box_type, bytes(buf[b._pos + head : b._end_pos]), offset=b._pos)


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
    except Nd2Error as e:
        raise e.at("<jp2 boxes>") from None
    except RecursionError:
        raise CorruptChunkError("JP2 superboxes nested too deeply", chunk="<jp2 boxes>", offset=0) from None
    entries = [(e["box_type"], e["tag"], e["offset"]) for e in
               ({"box_type": x.box_type, "tag": x.tag, "offset": x.offset} for x in bmap.entries)]
    out = [_to_box(b, buf) for b in boxes.boxes]
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
    out = b"".join(parts) + bmap + trailer
    if len(out) != total:  # pragma: no cover - arithmetic guard
        raise CorruptChunkError("internal size mismatch while building legacy file")
    return out
