"""Checks of a modern (v2.x / v3.x) ND2 container: signature, trailer, chunk map,
every chunk header, LiteVariant/XML/RLE payloads, frames against the attributes,
the Kaitai reference parser and (optionally) the chunk map round trip."""

from __future__ import annotations

import math
import sys
from collections import Counter
from io import BytesIO
from typing import Any

from .._generated.fast import lite_variant as _glv
from ..codecs import container, custom_data, names
from ..codecs import lite_variant as lv
from ..codecs.chunk_map import build_chunk_map_body, parse_chunk_map
from ..errors import Nd2Error
from ..model.attributes import REQUIRED_ATTRIBUTE_KEYS
from ..model.limits import metadata_inflate_limit
from .inflation import inflate_once
from .lv_walk import compare_trees, iter_tree
from .report import K_C, K_LV, K_RLE, Sink, ValidationReport, gc_paused, located_message
from .report import header_spec as _header_spec
from .report import hex_offset as _hex
from .report import spec_from as _spec_from
from .scan import KIND_HEAD, chunk_kind, scan_chunks

__all__ = ["ModernCheck"]

SIGNATURE_NAME = names.SIGNATURE_NAME
FILEMAP_NAME = names.FILEMAP_NAME
SIGNATURE_SIZE = container.SIGNATURE_SIZE
TRAILER_SIZE = container.TRAILER_SIZE
FRAME_NAME_LEN = container.FRAME_NAME_LEN
ALIGN = container.ALIGN
TRAILER = "<trailer>"
#: the Kaitai reference parser cross-checks chunk maps of at most this many entries
#: (it is pure Python: a larger map would make validation slow, not more thorough)
KAITAI_MAP_LIMIT = 50_000



def _single_bang(name: str) -> bool:
    return name.find("!") == len(name) - 1


def _first_diff(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    for i in range(0, n, 4096):
        if a[i : i + 4096] != b[i : i + 4096]:
            for j in range(i, min(n, i + 4096)):
                if a[j] != b[j]:
                    return j
    return n


# ----------------------------------------------------------------------------- modern files


class ModernCheck:
    def __init__(
        self, buf: Any, rep: ValidationReport, sink: Sink, roundtrip: bool, path: str | None
    ) -> None:
        self.buf = buf
        self.size = len(buf)
        self.rep = rep
        self.s = sink
        self.roundtrip = roundtrip
        self.path = path
        self.version: tuple[int, int] | None = None
        self.cm: Any = None
        self.map_info: container.ChunkInfo | None = None
        self.infos: dict[int, container.ChunkInfo] = {}
        # decoded payloads by map entry index (entries may share a chunk or a name)
        self.lv_trees: dict[int, Any] = {}
        self.xml_recs: dict[int, list[tuple[int, str, str, str | None, int]]] = {}
        self.kinds: dict[int, str] = {}
        self._frames: dict[int, int | None] | None = None

    # -- driver
    def run(self) -> None:
        self.step("signature", self.signature)
        if not self.step("chunk map", self.chunk_map):
            return
        head_ok = not self.rep.errors
        with gc_paused():  # one small acyclic object per entry (see gc_paused)
            self.step("map entries", self.entries)
        self.step("chunk payloads", self.contents)
        with gc_paused():
            self.step("frames", self.frames)
        if head_ok:
            self.step("container", self.kaitai_container)
        if self.roundtrip:
            self.step("chunk map round trip", self.map_roundtrip)

    def step(self, what: str, check: Any) -> bool:
        """Run one check; an :class:`Nd2Error` that escapes it is a finding (the bytes
        stopped the check), reported where the error says, and the run goes on.
        Any other exception is a bug in nd2kit and propagates."""
        try:
            return check() is not False
        except Nd2Error as e:
            self.s.error(
                e.chunk,
                e.offset,
                _spec_from(K_C, e, K_C),
                f"the {what} check stopped: {located_message(e)}",
            )
            return False

    # -- signature
    def signature(self) -> None:
        if self.size < SIGNATURE_SIZE:
            self.s.error(
                SIGNATURE_NAME,
                0,
                f"{K_C}:signature_chunk",
                f"the file has {self.size} bytes, too few for the signature chunk ({SIGNATURE_SIZE})",
            )
            return
        try:
            self.version = container.read_signature(self.buf)
        except Nd2Error as e:
            self.s.error(
                SIGNATURE_NAME,
                e.offset,
                _spec_from(K_C, e, f"{K_C}:signature_chunk.version"),
                f"file signature: {e.message}",
            )
            return
        self.rep.version = self.version
        if self.version[0] not in (2, 3):
            self.s.warning(
                SIGNATURE_NAME,
                container.VERSION_OFFSET,
                f"{K_C}:signature_chunk.version",
                f"version {self.version[0]}.{self.version[1]} is neither 2.x nor 3.x",
            )

    # -- trailer + map
    def _scan_after_failure(self) -> None:
        rows, stop = scan_chunks(self.buf, start=SIGNATURE_SIZE)
        self.s.count("chunks_scanned", len(rows))
        maps = [r for r in rows if r.name == FILEMAP_NAME]
        if stop is not None:
            row = rows[-1]
            self.s.error(
                stop.chunk,
                stop.offset,
                f"{K_C}:chunk.data",
                f"the file ends inside this chunk's payload (header at {_hex(row.offset)}, data_len "
                f"{row.data_len}, {(row.end or 0) - self.size} bytes missing): "
                "the file is truncated",
            )
        elif maps:
            self.s.error(
                FILEMAP_NAME,
                maps[-1].offset,
                f"{K_C}:map_trailer.map_offset",
                f"scanning found a chunk map chunk at {_hex(maps[-1].offset)}, but no valid trailer "
                "points at it",
            )
        else:
            found = (
                f"scanning found {len(rows)} chunks ending at "
                f"{_hex(max(r.end or 0 for r in rows))}"
                if rows
                else "scanning found no chunk after the signature"
            )
            self.s.error(
                None,
                self.size,
                f"{K_C}:chunk_map_chunk",
                f"no chunk map chunk in the file; {found} and the file ends at {_hex(self.size)}: "
                "the file looks truncated",
            )

    def chunk_map(self) -> bool:
        size = self.size
        at = container.trailer_offset(size)
        if at < container.header_end(0):
            self.s.error(
                TRAILER,
                max(0, at),
                f"{K_C}:map_trailer",
                f"the file has {size} bytes, too few for a chunk and the {TRAILER_SIZE}-byte trailer",
            )
            self._scan_after_failure()
            return False
        try:
            mo = container.read_trailer(self.buf, size)
        except Nd2Error as e:
            found = bytes(self.buf[at : at + 16])
            self.s.error(
                TRAILER,
                e.offset,
                _spec_from(K_C, e, f"{K_C}:map_trailer.signature"),
                f"the last {TRAILER_SIZE} bytes are not the chunk map trailer (they start {found!r}, "
                f"not {container.MAP_SIGNATURE!r}); the chunk map cannot be located (truncated file, "
                "or data appended after the trailer?)",
            )
            self._scan_after_failure()
            return False
        if container.header_end(mo) > size:
            self.s.error(
                TRAILER,
                container.trailer_offset(size, "map_offset"),
                f"{K_C}:map_trailer.map_offset",
                f"the trailer points at {_hex(mo)}, outside the file ({size} bytes)",
            )
            self._scan_after_failure()
            return False
        try:
            info = container.read_chunk(self.buf, mo, expect=FILEMAP_NAME)
        except Nd2Error as e:
            self.s.error(
                FILEMAP_NAME,
                mo if e.offset is None else e.offset,
                _header_spec(e, mo),
                f"chunk map chunk at {_hex(mo)} (from the trailer): {e.message}",
            )
            return False
        try:
            self.cm = parse_chunk_map(
                bytes(self.buf[info.data_offset : info.end]), base=info.data_offset
            )
        except Nd2Error as e:
            self.s.error(
                FILEMAP_NAME,
                info.data_offset if e.offset is None else e.offset,
                _spec_from(K_C, e, f"{K_C}:chunk_map.entries"),
                f"chunk map entries: {e.message}",
            )
            return False
        self.map_info = info
        return True

    # -- entries
    def entries(self) -> None:
        cm, buf, size = self.cm, self.buf, self.size
        cnames, offs, sizes = cm.names, cm.offsets.tolist(), cm.sizes.tolist()
        epos = cm.entry_positions().tolist()
        off_fields = cm.field_positions("offset").tolist()
        size_fields = cm.field_positions("size").tolist()
        counts = Counter(cnames)
        self.s.count("map_entries", len(cnames))
        unaligned: list[int] = []
        # the sound headers of all entries at once: magic, payload inside the file, and
        # the header naming the entry (only these are not read one by one below)
        data_offs, data_lens = container.locate_payloads(buf, cm.offsets)
        name_lens, named = container.header_names_match(buf, cm.offsets, cnames)
        sound = ((data_offs >= 0) & named).tolist()
        data_offs_l, data_lens_l, name_lens_l = data_offs.tolist(), data_lens.tolist(), name_lens.tolist()
        for i, (name, off, sz) in enumerate(zip(cnames, offs, sizes)):
            off_field, size_field = off_fields[i], size_fields[i]
            if sound[i] and counts[name] == 1 and _single_bang(name):
                # as container.read_chunk reads it (its only "!" ends the name)
                ci = container.ChunkInfo(name, off, name_lens_l[i], data_lens_l[i], data_offs_l[i])
                if sz >= 0 and sz != ci.data_len or (name == SIGNATURE_NAME and off != 0):
                    pass  # reported by the per-entry checks below
                else:
                    if off % ALIGN and name != SIGNATURE_NAME:
                        unaligned.append(i)
                    self.infos[i] = ci
                    continue
            if counts[name] > 1:
                self.s.error(
                    name,
                    epos[i],
                    f"{K_C}:chunk_map_entry.name",
                    f"duplicate map entry: {name!r} is listed {counts[name]} times (nd2 keeps the last "
                    "entry, limnd2 the one with the highest offset)",
                )
            if container.header_end(off) > size:
                self.s.error(
                    name,
                    off_field,
                    f"{K_C}:chunk_map_entry.offset",
                    f"the map entry points outside the file: offset {_hex(off)}, file size {size}",
                )
                continue
            try:
                ci = container.read_chunk(buf, off)
            except Nd2Error as e:
                self.s.error(
                    name,
                    off if e.offset is None else e.offset,
                    _header_spec(e, off),
                    f"{e.message} (chunk listed in the map at {_hex(off)})",
                )
                continue
            if ci.name != name:
                self.s.error(
                    name,
                    container.header_end(off),
                    f"{K_C}:chunk.name",
                    f"the chunk header at {_hex(off)} is named {ci.name!r}, the map says {name!r}",
                )
            if sz >= 0 and sz != ci.data_len:
                self.s.error(
                    name,
                    size_field,
                    f"{K_C}:chunk_map_entry.size",
                    f"map size {sz} != the chunk's data_len {ci.data_len}",
                )
            if name == SIGNATURE_NAME and off != 0:
                self.s.error(
                    name,
                    off_field,
                    f"{K_C}:chunk_map_entry.offset",
                    "the signature chunk must be at offset 0",
                )
            if off % ALIGN and name != SIGNATURE_NAME:
                unaligned.append(i)
            self.infos[i] = ci
        if unaligned:
            i = unaligned[0]
            self.s.warning(
                cnames[i],
                offs[i],
                "docs/format.md#nd2_container.chunk",
                f"{len(unaligned)} chunk(s) do not start on a 4 KiB boundary (NIS writes every chunk "
                "4 KiB aligned; readers do not require it)",
            )
        # overlaps
        spans = [(0, SIGNATURE_SIZE, SIGNATURE_NAME)]
        assert self.map_info is not None
        spans.append((self.map_info.offset, self.map_info.end, FILEMAP_NAME))
        for i, ci in self.infos.items():
            if cnames[i] == SIGNATURE_NAME and ci.offset == 0:
                continue
            spans.append((ci.offset, ci.end, cnames[i]))
        spans.sort()
        prev = spans[0]
        for sp in spans[1:]:
            if sp[0] < prev[1]:
                self.s.error(
                    sp[2],
                    sp[0],
                    f"{K_C}:chunk_map_entry.offset",
                    f"chunk at {_hex(sp[0])} overlaps {prev[2]!r} ({_hex(prev[0])}..{_hex(prev[1])})",
                )
            if sp[1] > prev[1]:
                prev = sp

    # -- payloads
    def _payload(self, ci: container.ChunkInfo) -> bytes:
        return bytes(self.buf[ci.data_offset : ci.end])

    def _frame_numbers(self) -> dict[int, int | None]:
        """N of every map entry named ``ImageDataSeq|...`` (None: not a decimal N), parsed once."""
        if self._frames is None:
            prefix = names.FRAME_PREFIX
            numbers, rows = self.cm.frames()  # vectorised; one row per N
            found: dict[int, int | None] = dict(zip(rows.tolist(), numbers.tolist()))
            for i, n in enumerate(self.cm.names):  # the others: repeated N, bad N
                if i not in found and n.startswith(prefix):
                    found[i] = names.parse_frame_index(n)
            self._frames = dict(sorted(found.items()))
        return self._frames

    def contents(self) -> None:
        cnames = self.cm.names
        frames = self._frame_numbers()
        # a chunk listed by several entries is checked (and inflated) once per kind
        done: dict[tuple[int, str], int] = {}
        for i, ci in self.infos.items():
            name = cnames[i]
            if frames.get(i) is not None:
                kind, head = "frame", b""  # what chunk_kind says from the name alone
            else:
                head = bytes(self.buf[ci.data_offset : min(ci.end, ci.data_offset + KIND_HEAD)])
                kind = chunk_kind(name, head, ci.data_len)
            self.kinds[i] = kind
            self.s.count(f"kind:{kind}")
            first = done.setdefault((ci.offset, kind), i)
            if first != i:
                if first in self.lv_trees:
                    self.lv_trees[i] = self.lv_trees[first]
                if first in self.xml_recs:
                    self.xml_recs[i] = self.xml_recs[first]
            elif kind == "lite-variant":
                with inflate_once(metadata_inflate_limit(len(self.buf))):
                    self.lite_variant(i, name, ci)
            elif kind == "xml":
                self.xml(i, name, ci)
            elif kind == "rle-mask":
                self.rle(name, ci)
            if names.expects_xml(name) and kind != "xml":
                self.s.error(
                    name,
                    ci.data_offset,
                    "docs/format.md#xml_variant",
                    f"expected an XML-variant payload, found bytes {head[:8].hex()}",
                )

    def lite_variant(self, index: int, name: str, ci: container.ChunkInfo) -> None:
        payload = self._payload(ci)
        base = ci.data_offset
        # lv.check, not lv.walk: the record list is not needed (and costs more than linear
        # time on deeply nested payloads); records are counted on the decoded tree below
        found = lv.check(payload, base=base, chunk=name)
        for f in found:
            self.s.add(f.severity, name, f.offset, f"{K_LV}:{f.field}", f.message)
        kt = None
        try:
            from .._generated.kaitai.lite_variant import LiteVariant as _KLv

            kt = _KLv.from_bytes(payload)
        except RecursionError:
            self.s.error(
                name,
                base,
                K_LV,
                "the Kaitai reference parser rejects the payload: the records are nested too "
                "deeply for it (RecursionError)",
            )
        except Exception as e:  # noqa: BLE001 - any failure of the reference parser is a finding
            self.s.error(
                name,
                base,
                K_LV,
                f"the Kaitai reference parser rejects the payload: {type(e).__name__}: {e}",
            )
        tree = None
        try:
            tree = lv.decode_lossless(payload, chunk=name, base=base)
        except Nd2Error as e:
            self.s.error(
                name,
                base if e.offset is None else e.offset,
                _spec_from(K_LV, e, K_LV),
                f"the fast lossless decoder rejects the payload: {e.message}",
            )
        if kt is not None and tree is not None:
            diff = compare_trees(kt.root, tree.root)
            if diff is None and bytes(kt.trailing) != bytes(tree.trailing):
                diff = "bytes after the root record differ"
            if diff:
                self.s.error(
                    name, base, K_LV, f"the reference parser and the fast decoder disagree: {diff}"
                )
        if tree is None:
            return
        self.s.count("lv_records", sum(1 for _ in iter_tree(tree.root)))
        self.lv_trees[index] = tree
        top: Any = tree.root  # an LvRecord (generated class, opaque to the type checker)
        root = top.value if top.type == _glv.T_COMPRESS else top
        want = names.root_name(name)
        if want and root.type == _glv.T_LEVEL and root.name != want:
            self.s.warning(
                name,
                base,
                "docs/format.md#lite_variant.level",
                f"the root record is named {root.name!r}, expected {want!r} (limnd2 looks it up by name)",
            )
        if self.roundtrip:
            self.s.count("roundtrip_chunks")
            try:
                enc = lv.encode(tree)
            except RecursionError:
                self.s.error(
                    name,
                    base,
                    K_LV,
                    "the payload cannot be re-encoded: the records are nested too deeply for "
                    "the encoder (RecursionError)",
                )
                return
            if enc != payload:
                k = _first_diff(payload, enc)
                self.s.error(
                    name,
                    base + k,
                    K_LV,
                    f"lossless re-encoding differs from the stored bytes first at +{k} (stored "
                    f"{payload[k : k + 8].hex() or 'end'}, re-encoded {enc[k : k + 8].hex() or 'end'}; "
                    f"{len(payload)} vs {len(enc)} bytes)",
                )

    def xml(self, index: int, name: str, ci: container.ChunkInfo) -> None:
        strict = names.expects_xml(name) or names.classify(name) is names.ChunkKind.CUSTOM_DATA_VAR
        sev = "error" if strict else "warning"
        try:
            from ..codecs import xml_variant
        except ImportError as e:  # pragma: no cover - shipped with the package
            self.s.warning(
                name, ci.data_offset, "docs/format.md#xml_variant", f"XML decoder not available ({e})"
            )
            return
        payload = self._payload(ci)
        try:
            recs = list(xml_variant.iter_xml_records(payload))
            if strict:
                xml_variant.decode_xml_variant(payload)
        except Nd2Error as e:
            off = ci.data_offset + (e.offset or 0)
            msg = (
                e.message
                if e.message.startswith("XML")
                else f"XML variant cannot be parsed: {e.message}"
            )
            self.s.add(sev, name, off, "docs/format.md#xml_variant", msg)
            return
        except Exception as e:  # noqa: BLE001
            self.s.add(
                sev,
                name,
                ci.data_offset,
                "docs/format.md#xml_variant",
                f"XML variant cannot be decoded: {type(e).__name__}: {e}",
            )
            return
        self.s.count("xml_records", len(recs))
        self.xml_recs[index] = recs
        if strict and recs and recs[0][1] != "variant":
            self.s.warning(
                name,
                ci.data_offset + recs[0][4],
                "docs/format.md#xml_variant",
                f"root element is <{recs[0][1]}>, expected <variant>",
            )

    def rle(self, name: str, ci: container.ChunkInfo) -> None:
        from ..codecs import rle

        try:
            rle.decode_rle_mask(self._payload(ci), chunk=name, base=ci.data_offset)
        except Nd2Error as e:
            self.s.error(
                name,
                ci.data_offset if e.offset is None else e.offset,
                _spec_from(K_RLE, e, f"{K_RLE}:rle_stream"),
                f"RLE mask cannot be decoded: {e.message}",
            )

    # -- attributes and frames
    def _attributes(
        self, index: int, ci: container.ChunkInfo
    ) -> tuple[dict[str, Any], dict[str, int]] | None:
        tree = self.lv_trees.get(index)
        if tree is not None:
            root = tree.root
            packed = root.type == lv.LvType.COMPRESS
            if packed:
                root = root.value
            if root.type != lv.LvType.LEVEL:
                return None
            payload = self._payload(ci)
            vals: dict[str, Any] = {}
            offs: dict[str, int] = {}
            for c in root.value:
                if c.type == lv.LvType.LEVEL:
                    continue
                vals[c.name] = c.value
                at = None if packed else lv.value_offset(payload, c)
                offs[c.name] = ci.data_offset if at is None else ci.data_offset + at
            return vals, offs
        recs = self.xml_recs.get(index)
        if recs is not None:
            from ..codecs import xml_variant

            try:
                vals = xml_variant.decode_xml_variant(self._payload(ci))
            except Exception:  # noqa: BLE001 - already reported by xml()
                return None
            if not isinstance(vals, dict):
                return None
            if len(vals) == 1 and isinstance(next(iter(vals.values())), dict):
                vals = next(iter(vals.values()))
            offs = {}
            for depth, el, _rt, _v, off in recs:
                if el in vals and depth >= 1:
                    offs[el] = ci.data_offset + off
            return vals, offs
        return None

    def frames(self) -> None:
        cnames = self.cm.names
        last = {n: i for i, n in enumerate(cnames)}
        epos = self.cm.entry_positions().tolist()
        major = self.version[0] if self.version else 3
        expected = names.meta_chunk("attributes", major)
        other = names.meta_chunk("attributes", 2 if major >= 3 else 3)
        attr = expected if expected in last else None
        if attr is None:
            if other in last:
                self.s.error(
                    other,
                    epos[last[other]],
                    "docs/format.md#nd2_container.signature_chunk",
                    f"a version {major}.x file must keep its attributes in {expected!r}; nd2 does not "
                    f"read {other!r} in this version",
                )
                attr = other
            else:
                self.s.error(
                    expected,
                    None,
                    "docs/format.md#nd2_container.chunk_map_entry",
                    f"the required chunk {expected!r} is missing from the chunk map",
                )
        seqmeta = names.meta_chunk("metadata", major)
        if seqmeta not in last:
            self.s.warning(
                seqmeta,
                None,
                "docs/format.md#nd2_container.chunk_map_entry",
                f"{seqmeta!r} is missing (nd2 0.12 requires it to open the file)",
            )
        frame_idx: dict[int, list[int]] = {}
        for i, fno in self._frame_numbers().items():
            n = cnames[i]
            if fno is None:
                self.s.error(
                    n,
                    epos[i],
                    "docs/format.md#nd2_container.image_frame",
                    "frame chunk name is not 'ImageDataSeq|N!' with a decimal N",
                )
                continue
            if names.frame_name(fno) != n:
                self.s.warning(
                    n, epos[i], "docs/format.md#nd2_container.chunk_map_entry", "frame index written with leading zeros"
                )
            frame_idx.setdefault(fno, []).append(i)
        self.s.count("frames", len(frame_idx))
        if attr is None or last[attr] not in self.infos:
            return
        aci = self.infos[last[attr]]
        got = self._attributes(last[attr], aci)
        if got is None:
            return
        vals, offs = got
        bad = False
        for k in REQUIRED_ATTRIBUTE_KEYS:
            if k not in vals:
                self.s.error(
                    attr,
                    aci.data_offset,
                    "docs/format.md#SLxImageAttributes",
                    f"attribute {k} is missing (nd2 requires it)",
                )
                bad = True
            elif not isinstance(vals[k], int) or isinstance(vals[k], bool):
                self.s.error(
                    attr,
                    offs.get(k),
                    "docs/format.md#SLxImageAttributes",
                    f"attribute {k} = {vals[k]!r} is not an integer",
                )
                bad = True
        if bad:
            return
        w, wb, h = vals["uiWidth"], vals["uiWidthBytes"], vals["uiHeight"]
        comp, bpc, seq = vals["uiComp"], vals["uiBpcInMemory"], vals["uiSequenceCount"]
        if bpc not in (8, 16, 32):
            self.s.warning(
                attr,
                offs.get("uiBpcInMemory"),
                "docs/format.md#nd2_container.image_frame.pixels",
                f"uiBpcInMemory {bpc} is not 8, 16 or 32",
            )
        if vals["uiBpcSignificant"] > bpc:
            self.s.warning(
                attr,
                offs.get("uiBpcSignificant"),
                "docs/format.md#nd2_container.image_frame.pixels",
                f"uiBpcSignificant {vals['uiBpcSignificant']} > uiBpcInMemory {bpc}",
            )
        bytes_pc = math.ceil(bpc / 8)
        need = w * comp * bytes_pc
        if wb < need:
            self.s.error(
                attr,
                offs.get("uiWidthBytes"),
                "docs/format.md#nd2_container.image_frame.pixels",
                f"row stride uiWidthBytes {wb} is smaller than uiWidth {w} x uiComp {comp} x "
                f"{bytes_pc} byte(s) = {need}",
            )
        ec = vals.get("eCompression", 2)
        if ec not in (0, 1, 2):
            self.s.error(
                attr, offs.get("eCompression"), "docs/format.md#nd2_container.image_frame.zlib_stream", f"unknown eCompression {ec!r}"
            )
        elif ec == 1:
            self.s.warning(
                attr,
                offs.get("eCompression"),
                "docs/format.md#nd2_container.image_frame.zlib_stream",
                "lossy compression (eCompression 1): the codec is unknown, frame payloads not checked",
            )
        for key, full in (("uiTileWidth", w), ("uiTileHeight", h)):
            v = vals.get(key)
            if isinstance(v, int) and v not in (0, full):
                self.s.warning(
                    attr,
                    offs.get(key),
                    "docs/format.md#nd2_container.image_frame.pixels",
                    f"{key} {v} differs from the image size {full}: no reader implements tiled frames",
                )
        seq_off = offs.get("uiSequenceCount")
        if len(frame_idx) != seq:
            self.s.error(
                attr,
                seq_off,
                "docs/format.md#nd2_container.image_frame",
                f"uiSequenceCount is {seq} but the chunk map lists {len(frame_idx)} ImageDataSeq|N! chunks",
            )
        # (a huge, corrupt count is reported by the mismatch above; list only a few gaps)
        span = range(seq) if seq <= len(frame_idx) + 100_000 else range(len(frame_idx) + 21)
        missing = [fk for fk in span if fk not in frame_idx]
        for fk in missing[:20]:
            self.s.error(
                attr,
                seq_off,
                "docs/format.md#nd2_container.image_frame",
                f"frame chunk ImageDataSeq|{fk}! is missing (frames must be numbered 0..uiSequenceCount-1)",
            )
        if len(missing) > 20:
            self.s.error(
                attr,
                seq_off,
                "docs/format.md#nd2_container.image_frame",
                f"{len(missing) - 20} more frame chunks are missing",
            )
        for fk in sorted(frame_idx):
            if fk >= seq:
                i = frame_idx[fk][0]
                self.s.error(
                    cnames[i],
                    epos[i],
                    "docs/format.md#nd2_container.image_frame",
                    f"frame index {fk} >= uiSequenceCount {seq}",
                )
        ts = container.FRAME_TIMESTAMP_SIZE
        expected_len = ts + h * wb
        seen: set[int] = set()  # a frame chunk listed twice is checked (inflated) once
        for idxs in frame_idx.values():
            for i in idxs:
                ci = self.infos.get(i)
                if ci is None or ci.offset in seen:
                    continue
                seen.add(ci.offset)
                n = cnames[i]
                if ec == 2:
                    if ci.data_len != expected_len:
                        self.s.error(
                            n,
                            container.header_field_position(ci.offset, "data_len"),
                            f"{K_C}:chunk_header.data_len",
                            f"uncompressed frame data_len {ci.data_len} != {ts} + uiHeight {h} x "
                            f"uiWidthBytes {wb} = {expected_len}",
                        )
                    if ci.name_len != FRAME_NAME_LEN:
                        self.s.error(
                            n,
                            container.header_field_position(ci.offset, "name_len"),
                            f"{K_C}:chunk_header.name_len",
                            f"uncompressed frame has name_len {ci.name_len}: nd2 reads the pixels at "
                            f"chunk offset + 4096 and needs name_len {FRAME_NAME_LEN} (docs/format.md#nd2_container.chunk)",
                        )
                elif ec == 0:
                    self._lossless_frame(n, ci, h * wb)
        acq = last.get(names.ACQ_TIMES_CACHE)
        if acq is not None and acq in self.infos:
            self._acq_times(self.infos[acq], seq)

    def _acq_times(self, ci: container.ChunkInfo, seq: int) -> None:
        """One f64 acquisition time per frame in ``CustomData|AcqTimesCache!``."""
        try:
            count = len(custom_data.decode_f8_array(self._payload(ci), base=ci.data_offset))
        except Nd2Error as e:
            detail = e.message
        else:
            if count == seq:
                return
            detail = f"{count} f64 values"
        self.s.warning(
            names.ACQ_TIMES_CACHE,
            container.header_field_position(ci.offset, "data_len"),
            "docs/format.md#acquisition_caches",
            f"AcqTimesCache holds {ci.data_len} bytes ({detail}), expected one f64 per frame: "
            f"uiSequenceCount = {seq}",
        )

    def _lossless_frame(self, name: str, ci: container.ChunkInfo, want: int) -> None:
        ts = container.FRAME_TIMESTAMP_SIZE
        if ci.data_len < ts:
            self.s.error(
                name,
                container.header_field_position(ci.offset, "data_len"),
                f"{K_C}:image_frame.timestamp",
                f"frame data_len {ci.data_len} is shorter than the {ts}-byte timestamp",
            )
            return
        at = container.frame_pixels_offset(ci.data_offset)
        if want >= sys.maxsize:  # no zlib stream inflates to that much (nor can a buffer hold it)
            self.s.error(
                name,
                at,
                f"{K_C}:image_frame.zlib_stream",
                f"a lossless frame of uiHeight x uiWidthBytes = {want} bytes cannot exist",
            )
            return
        try:
            container.inflate_frame(self.buf[at : ci.end], want, chunk=name, offset=at,
                                    label="lossless frame", require_end=True)
        except Nd2Error as e:
            self.s.error(
                name,
                at,
                f"{K_C}:image_frame.zlib_stream",
                f"{e.message} (uiHeight x uiWidthBytes = {want})",
            )

    # -- reference parser for the container
    def kaitai_container(self) -> None:
        n = len(self.cm.names)
        if n > KAITAI_MAP_LIMIT:
            assert self.map_info is not None
            self.s.add(
                "info",
                FILEMAP_NAME,
                self.map_info.data_offset,
                f"{K_C}:chunk_map",
                f"the Kaitai reference parser was not run on the container: the map has {n} "
                f"entries, more than {KAITAI_MAP_LIMIT} (it reads about 30 000 entries a second); "
                "every entry was checked by the fast parser",
            )
            return
        try:
            from kaitaistruct import KaitaiStream

            from .._generated.kaitai.nd2_container import Nd2Container
        except ImportError as e:  # pragma: no cover - a dependency
            self.s.warning(None, None, K_C, f"Kaitai runtime not available ({e})")
            return
        fh = None
        try:
            if self.path is not None:
                fh = open(self.path, "rb")
                io = KaitaiStream(fh)
            else:
                io = KaitaiStream(BytesIO(bytes(self.buf)))
            k = Nd2Container(io)
            _ = k.signature
            got = [(e.name, e.offset, e.size) for e in k.chunk_map.body.entries if not e.is_end]
        except Exception as e:  # noqa: BLE001
            self.s.error(
                None,
                None,
                K_C,
                f"the Kaitai reference parser rejects the container: {type(e).__name__}: {e}",
            )
            return
        finally:
            if fh is not None:
                fh.close()
        ours = [
            (n, int(o), int(o) if s < 0 else int(s))
            for n, o, s in zip(self.cm.names, self.cm.offsets.tolist(), self.cm.sizes.tolist())
        ]
        if got != ours:
            i = next(
                (j for j, (a, b) in enumerate(zip(got, ours)) if a != b), min(len(got), len(ours))
            )
            assert self.map_info is not None
            self.s.error(
                FILEMAP_NAME,
                self.map_info.data_offset,
                f"{K_C}:chunk_map",
                f"the Kaitai reference parser and the fast parser disagree on the chunk map from entry "
                f"{i} ({got[i] if i < len(got) else None} vs {ours[i] if i < len(ours) else None})",
            )

    def map_roundtrip(self) -> None:
        assert self.map_info is not None
        cm = self.cm
        body = bytes(self.buf[self.map_info.data_offset : self.map_info.end])
        try:
            enc = build_chunk_map_body(cm.names, cm.offsets, cm.sizes, cm.end_value)
        except ValueError as e:
            self.s.error(
                FILEMAP_NAME,
                self.map_info.data_offset,
                f"{K_C}:chunk_map",
                f"the chunk map cannot be re-encoded: {e}",
            )
            return
        self.s.count("roundtrip_chunks")
        if body[: len(enc)] != enc:
            k = _first_diff(body, enc)
            self.s.error(
                FILEMAP_NAME,
                self.map_info.data_offset + k,
                f"{K_C}:chunk_map",
                f"re-encoded chunk map differs from the stored bytes first at +{k}",
            )

