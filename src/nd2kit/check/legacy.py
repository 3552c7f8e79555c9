"""Checks of a legacy (v1.0, JPEG 2000) ND2 file: signature box, box map trailer,
box map, the top-level box walk, ``ihdr``, codestream and XML boxes, and the
legacy codec against the Kaitai reference parser."""

from __future__ import annotations

from typing import Any

from ..codecs import jp2
from ..errors import Nd2Error
from .report import K_JP2, Sink, ValidationReport
from .report import hex_offset as _hex
from .report import spec_from as _spec_from
from .scan import legacy_boxes

__all__ = ["LegacyCheck"]

TRAILER = "<trailer>"



class LegacyCheck:
    def __init__(self, buf: Any, rep: ValidationReport, sink: Sink) -> None:
        self.buf = buf
        self.size = len(buf)
        self.rep = rep
        self.s = sink

    def run(self) -> None:
        buf, size, s = self.buf, self.size, self.s
        try:
            jp2.check_signature(buf)
        except Nd2Error:
            s.error(
                "jP  ",
                0,
                f"{K_JP2}:box",
                f"the file does not start with the {len(jp2.JP2_SIGNATURE_BOX)}-byte JPEG 2000 "
                "signature box",
            )
        ts = jp2.BOX_MAP_TRAILER_SIZE
        trailer_at = size - ts
        if trailer_at < jp2.BOX_MAP_COUNT_SIZE:
            s.error(
                TRAILER,
                0,
                f"{K_JP2}:box_map_trailer",
                f"the file has {size} bytes, too few for a box map",
            )
            return
        try:
            distance = jp2.read_box_map_trailer(buf)
        except Nd2Error as e:
            s.error(
                TRAILER,
                e.offset,
                _spec_from(K_JP2, e, f"{K_JP2}:box_map_trailer.signature"),
                f"the last {ts} bytes are not the box map trailer ({e.message}); the box map cannot be "
                "located (truncated file?)",
            )
            _, stop = legacy_boxes(buf, size)
            if stop is not None:
                s.error("<jp2 boxes>", stop.offset, f"{K_JP2}:box.len", stop.message)
            return
        start = size - distance
        if not 0 <= start <= trailer_at - jp2.BOX_MAP_COUNT_SIZE:
            s.error(
                TRAILER,
                jp2.trailer_field_position(size, "distance"),
                f"{K_JP2}:box_map_trailer.distance",
                f"box map distance {distance} points outside the file",
            )
            return
        try:
            _, bm = jp2.read_box_map(buf)
        except Nd2Error as e:
            s.error(
                "<box map>",
                start if e.offset is None else e.offset,
                _spec_from(K_JP2, e, f"{K_JP2}:box_map.entries"),
                f"box map: {e.message}",
            )
            return
        room = trailer_at - start - jp2.BOX_MAP_COUNT_SIZE
        if bm._end_pos != trailer_at:
            if room == jp2.LIMND2_BOX_MAP_ENTRY_SIZE * bm.count:
                s.error(
                    "<box map>",
                    start,
                    f"{K_JP2}:box_map_entry",
                    f"the box map has {jp2.LIMND2_BOX_MAP_ENTRY_SIZE}-byte entries (limnd2's layout); the "
                    f"spec and nd2 use {jp2.BOX_MAP_ENTRY_SIZE}-byte entries with u64 offsets",
                )
            else:
                s.warning(
                    "<box map>",
                    bm._end_pos,
                    f"{K_JP2}:box_map",
                    f"{trailer_at - bm._end_pos} bytes between the box map entries and the trailer",
                )
        walked, stop = legacy_boxes(buf, start)
        if stop is not None:
            s.error("<jp2 boxes>", stop.offset, f"{K_JP2}:box.len", stop.message)
        s.count("boxes", len(walked))
        s.count("map_entries", len(bm.entries))
        at = {o: (t, n) for t, o, n in walked}
        tags: dict[str, list[int]] = {}
        mapped = set()
        for ent in bm.entries:
            label = ent.tag.strip() or ent.box_type
            if ent.offset not in at:
                where = (
                    "points outside the box area"
                    if ent.offset >= start
                    else "does not point at the start of a top-level box"
                )
                s.error(
                    ent.tag,
                    jp2.box_map_field_position(ent, "offset"),
                    f"{K_JP2}:box_map_entry.offset",
                    f"map entry ({ent.box_type!r}, {ent.tag!r}) {where}: offset {_hex(ent.offset)}",
                )
                continue
            mapped.add(ent.offset)
            t, _n = at[ent.offset]
            if t != ent.box_type:
                s.error(
                    ent.tag,
                    jp2.box_map_field_position(ent, "box_type"),
                    f"{K_JP2}:box_map_entry.box_type",
                    f"the map says box type {ent.box_type!r}, the box at {_hex(ent.offset)} is {t!r}",
                )
            tags.setdefault(label, []).append(ent.offset)
        unmapped = [o for _t, o, _n in walked if o not in mapped]
        if unmapped:
            s.warning(
                at[unmapped[0]][0],
                unmapped[0],
                f"{K_JP2}:box_map",
                f"{len(unmapped)} top-level box(es) are not listed in the box map",
            )
        self._contents(walked, tags)
        self._cross_check(bm, start)

    def _contents(self, walked: list[tuple[str, int, int]], tags: dict[str, list[int]]) -> None:
        buf, s = self.buf, self.s
        jp2h = [o for t, o, _n in walked if t == "jp2h"]
        ihdr = False
        for o in jp2h:
            try:
                b = jp2.parse_box(buf, o, self.size)
                # a box with an extended (64-bit) length holds its body in body_ext
                body = b.body if b.body is not None else b.body_ext
                ihdr = ihdr or any(c.box_type == "ihdr" for c in getattr(body, "boxes", None) or [])
            except Nd2Error as e:
                s.error(
                    "jp2h",
                    o if e.offset is None else e.offset,
                    _spec_from(K_JP2, e, f"{K_JP2}:box"),
                    f"jp2h box: {e.message}",
                )
        if not ihdr:
            s.error(
                "jp2h",
                jp2h[0] if jp2h else None,
                "docs/format.md#legacy_jp2.image_header",
                "no jp2h box with an ihdr image header (both readers take the image size from it)",
            )
        ends = {o: o + n for _t, o, n in walked}
        for o in tags.get("LUNK", []):
            at = jp2.box_payload_offset(buf, o, ends[o])
            if not jp2.is_codestream(buf[at : ends[o]]):
                s.error(
                    "LUNK",
                    at,
                    "docs/format.md#legacy_jp2.box",
                    "LUNK box payload is not a JPEG 2000 codestream (expected FF 4F FF 51)",
                )
        try:
            from lxml import etree
        except ImportError:  # pragma: no cover - a dependency
            etree = None
        n_xml = 0
        for t, o, n in walked:
            if t != "xml " or etree is None:
                continue
            n_xml += 1
            at = jp2.box_payload_offset(buf, o, o + n)
            try:
                etree.fromstring(bytes(buf[at : o + n]), etree.XMLParser(huge_tree=True))
            except etree.XMLSyntaxError as e:
                tag = next((g for g, offs in tags.items() if o in offs), "xml ")
                s.error(tag, at, "docs/format.md#legacy_jp2.box", f"XML box is not well-formed: {e}")
        s.count("xml_boxes", n_xml)
        vcal = len(tags.get("VCAL", []))
        lunk = len(tags.get("LUNK", []))
        s.count("frames", vcal)
        if vcal == 0:
            s.error(
                "VCAL",
                None,
                "docs/format.md#legacy_jp2.box",
                "no VCAL box: the frame count is the number of VCAL boxes",
            )
        elif lunk % vcal:
            s.warning(
                "LUNK",
                None,
                "docs/format.md#legacy_jp2.image_header",
                f"{lunk} LUNK codestreams are not a multiple of the {vcal} frames (VCAL boxes)",
            )

    def _cross_check(self, bm: Any, map_start: int) -> None:
        try:
            jp2.read_legacy(self.buf)
        except Nd2Error as e:
            self.s.error(
                e.chunk, e.offset, K_JP2, f"the legacy codec rejects the file: {e.message}"
            )
        try:
            from .._generated.kaitai.legacy_jp2 import LegacyJp2

            k = LegacyJp2.from_bytes(bytes(self.buf))
            got = [(e.box_type, e.tag, e.offset) for e in k.box_map.entries]
            _ = k.boxes
        except Exception as e:  # noqa: BLE001
            self.s.error(
                None,
                None,
                K_JP2,
                f"the Kaitai reference parser rejects the file: {type(e).__name__}: {e}",
            )
            return
        ours = [(e.box_type, e.tag, e.offset) for e in bm.entries]
        if got != ours:
            self.s.error(
                "<box map>",
                map_start,
                f"{K_JP2}:box_map",
                "the Kaitai reference parser and the fast parser disagree on the box map",
            )


