"""Check an ND2 file against the format specs (``nd2kit validate``).

:func:`validate_file` returns a :class:`ValidationReport` whose ``findings`` say
what is wrong (``error``) or unusual (``warning``), each with the chunk concerned,
the **absolute file offset** of the offending bytes and the spec rule
(``nd2_container.ksy:chunk_header.magic``, ``lite_variant.ksy:level.length``, or a
section of ``ND2_FORMAT.md`` for rules that span chunks).

What is checked (modern files, versions 2.x/3.x):

* the signature chunk (magic, name_len 32, data_len 64, name, ``VerM.m``), the
  trailer and the chunk map chunk; when the map cannot be located the file is
  scanned for chunk headers so that a truncated chunk is reported where the file
  ends;
* every map entry against the chunk header it points at (inside the file, magic,
  name, name_len/data_len inside the file, map size == data_len), duplicate names,
  overlapping chunks, 4 KiB alignment (one warning);
* every LiteVariant chunk three ways: a structural walk that locates damage
  (LEVEL ``length``/``item_count`` against the children, the offset table, string
  terminators, type codes — 0, 7 and 10 are errors —, names ending in NUL,
  BYTEARRAY lengths, compressed blocks), the Kaitai reference parser
  (``nd2kit._generated.kaitai.lite_variant``) and the fast lossless decoder, whose
  trees must agree; with ``roundtrip=True`` also ``encode(decode_lossless(b)) == b``;
* XML-variant chunks (``ImageAttributes!``… in 2.x, ``CustomDataVar|…``) parse;
  RLE masks decode;
* frames against the attributes: ``uiSequenceCount`` == number of
  ``ImageDataSeq|N!`` chunks with N = 0…count-1, ``uiWidthBytes >= uiWidth × uiComp ×
  ceil(uiBpcInMemory / 8)``, uncompressed ``data_len == 8 + uiHeight × uiWidthBytes``
  and ``name_len == 4072`` (nd2 reads pixels at chunk + 4096), lossless frames
  inflate to ``uiHeight × uiWidthBytes``;
* the container through the Kaitai reference parser (same chunk map).

Legacy (v1.0, JPEG 2000) files: signature box, trailer, box map (16-byte entries),
every entry against the box it points at, the top-level box walk, ``ihdr``,
codestream and XML boxes, and both the codec and the Kaitai reference parser.

Exit codes used by the CLI: 0 valid (warnings allowed), 1 invalid, 2 unreadable
(cannot open, or not an ND2 file).
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from .._generated.fast import legacy_jp2 as _gjp2
from .._generated.fast import lite_variant as _glv
from .._generated.fast import nd2_container as _gc
from ..codecs import container
from ..codecs import lite_variant as lv
from ..codecs.chunk_map import build_chunk_map_body, parse_chunk_map
from ..errors import CorruptChunkError, Nd2Error
from .inspection import (
    FRAME_RE,
    KIND_HEAD,
    SIGNATURE_END,
    chunk_kind,
    legacy_boxes,
    open_source,
    scan_chunks,
)

__all__ = ["Finding", "ValidationReport", "validate_file", "walk_lite_variant"]

K_C = "nd2_container.ksy"
K_LV = "lite_variant.ksy"
K_JP2 = "legacy_jp2.ksy"
K_RLE = "binary_rle.ksy"

SIGNATURE_NAME = container.SIGNATURE_NAME
FILEMAP_NAME = container.FILEMAP_NAME
HEADER_SIZE = _gc.ChunkHeader.SIZE
TRAILER_SIZE = _gc.MapTrailer.SIZE
FRAME_NAME_LEN = 4072
ALIGN = 4096
TRAILER = "<trailer>"

#: chunks whose payload must be XML variant (2.x metadata)
XML_NAME_RE = re.compile(
    r"(ImageAttributes|ImageMetadata|ImageTextInfo|ImageEvents)!\Z"
    r"|(ImageMetadataSeq|ImageCalibration)\|\d+!\Z"
)

#: root record names readers (limnd2) look up
ROOT_NAMES = {
    "ImageAttributesLV!": "SLxImageAttributes",
    "ImageMetadataLV!": "SLxExperiment",
    "ImageTextInfoLV!": "SLxImageTextInfo",
    "ImageEventsLV!": "RLxExperimentRecord",
    "CustomData|ExperimentEventsV1_0!": "RLxExperimentRecord",
    "CustomData|RoiMetadata_v1!": "RoiMetadata_v1",
    "CustomData|WellPlateDesc_0!": "PlateDesc",
    "CustomData|CustomDescriptionV1_0!": "CLxCustomDescription",
}
ROOT_NAME_RE = {re.compile(r"ImageMetadataSeqLV\|\d+!\Z"): "SLxPictureMetadata"}

REQUIRED_ATTRIBUTES = (
    "uiWidth",
    "uiWidthBytes",
    "uiHeight",
    "uiComp",
    "uiBpcInMemory",
    "uiBpcSignificant",
    "uiSequenceCount",
)

LV_TYPE_NAMES = {int(t): t.name for t in lv.LvType}


# ----------------------------------------------------------------------------- report


@dataclass
class Finding:
    """One problem: severity (``error``/``warning``), chunk name, absolute offset,
    spec rule and a message."""

    severity: str
    chunk: str | None
    offset: int | None
    spec: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "chunk": self.chunk,
            "offset": self.offset,
            "spec": self.spec,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = "-" if self.offset is None else f"0x{self.offset:X} ({self.offset})"
        return f"{self.severity}: {self.chunk or '-'} @ {where} [{self.spec}] {self.message}"


@dataclass
class ValidationReport:
    """Result of :func:`validate_file`.

    ``readable`` is False when the input could not be opened or is not an ND2 file
    at all (exit code 2). ``ok`` is True when readable and no finding is an error.
    ``checked`` counts what was examined (chunks per kind, records, frames...).
    """

    path: str | None
    size: int = 0
    format: str = "unknown"
    version: tuple[int, int] | None = None
    readable: bool = True
    roundtrip: bool = False
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return self.readable and not self.errors

    @property
    def exit_code(self) -> int:
        return 2 if not self.readable else (0 if self.ok else 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "format": self.format,
            "version": list(self.version) if self.version else None,
            "readable": self.readable,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "roundtrip": self.roundtrip,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checked": dict(self.checked),
            "findings": [f.to_dict() for f in self.findings],
        }


class _Sink:
    def __init__(self, rep: ValidationReport) -> None:
        self.rep = rep
        self._seen: set[tuple[Any, ...]] = set()

    def add(
        self, severity: str, chunk: str | None, offset: int | None, spec: str, message: str
    ) -> None:
        key = (severity, chunk, offset, spec, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.rep.findings.append(Finding(severity, chunk, offset, spec, message))

    def error(self, chunk: str | None, offset: int | None, spec: str, message: str) -> None:
        self.add("error", chunk, offset, spec, message)

    def warning(self, chunk: str | None, offset: int | None, spec: str, message: str) -> None:
        self.add("warning", chunk, offset, spec, message)

    def count(self, key: str, n: int = 1) -> None:
        self.rep.checked[key] = self.rep.checked.get(key, 0) + n


_ERR_FIELD = re.compile(r"(\w+)\.(\w+):")


def _spec_from(ksy: str, err: Nd2Error, default: str) -> str:
    """``ksy:type.field`` from a generated codec's error message, else `default`."""
    m = _ERR_FIELD.match(err.message)
    return f"{ksy}:{m.group(1)}.{m.group(2)}" if m else default


def _header_spec(err: Nd2Error, chunk_offset: int) -> str:
    rel = None if err.offset is None else err.offset - chunk_offset
    return {
        0: f"{K_C}:chunk_header.magic",
        4: f"{K_C}:chunk_header.name_len",
        8: f"{K_C}:chunk_header.data_len",
        HEADER_SIZE: f"{K_C}:chunk.name",
    }.get(rel, _spec_from(K_C, err, f"{K_C}:chunk_header"))


def _hex(n: int | None) -> str:
    return "?" if n is None else f"{n} (0x{n:X})"


# ----------------------------------------------------------------------------- LiteVariant walk


class _Fault(Exception):
    """A structural problem that stops the parse of the enclosing block."""

    def __init__(self, pos: int, spec: str, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.spec = spec
        self.message = message


class _GiveUp(Exception):
    pass


class _LvWalker:
    """Structural check of one LiteVariant stream that locates damage.

    Layout facts (struct formats, terminator, LEVEL header, compressed skip, the
    scalar sizes) come from the generated codec ``nd2kit._generated.fast.lite_variant``;
    this class only decides which bounds to try so that a fault is reported at the
    bytes that cause it: a LEVEL is parsed with its declared ``length`` first, then
    without it (a wrong ``length``/``item_count`` shows up as children that fit
    elsewhere, confirmed by the offset table), and finally child by child at the
    positions of its offset table (which isolates e.g. an unterminated STRING).

    Findings are tuples ``(severity, absolute offset, spec, message)``.
    """

    MAX_STEPS = 2_000_000

    def __init__(self, buf: bytes, base: int | None, anchor: int | None = None) -> None:
        self.buf = buf
        self.base = base  # file offset of buf[0]; None for an inflated stream
        self.anchor = anchor  # file offset reported for inflated streams
        self.findings: list[tuple[str, int | None, str, str]] = []
        self.visited: dict[int, tuple[int, str, str, int, str]] = {}
        self.nameless: list[int] = []
        self.steps = [0]

    # -- bookkeeping
    def _abs(self, pos: int) -> int | None:
        return self.base + pos if self.base is not None else self.anchor

    def _where(self, pos: int) -> str:
        if self.base is not None:
            return _hex(self.base + pos)
        return f"+{pos} of the inflated stream"

    def add(self, pos: int, severity: str, spec: str, message: str) -> None:
        if self.base is None:
            message += f" (at +{pos} of the stream inflated from the compressed record)"
        self.findings.append((severity, self._abs(pos), f"{K_LV}:{spec}", message))

    def _add_fault(self, f: _Fault) -> None:
        self.add(f.pos, "error", f.spec, f.message)

    def fork(self) -> _LvWalker:
        w = _LvWalker.__new__(_LvWalker)
        w.buf, w.base, w.anchor, w.steps = self.buf, self.base, self.anchor, self.steps
        w.findings, w.visited, w.nameless = [], {}, []
        return w

    def merge(self, other: _LvWalker) -> None:
        self.findings.extend(other.findings)
        self.visited.update(other.visited)
        self.nameless.extend(other.nameless)

    def _tick(self) -> None:
        self.steps[0] += 1
        if self.steps[0] > self.MAX_STEPS:
            raise _GiveUp

    # -- entry point
    def check_stream(self, depth: int = 0, path: str = "") -> None:
        n = len(self.buf)
        if n == 0:
            self.add(0, "error", "record.type", "empty LiteVariant payload")
            return
        try:
            end, _name, t = self._record(0, n, depth, path, 0)
        except _Fault as f:
            self._add_fault(f)
            end, t = None, None
        except _GiveUp:
            self.add(0, "error", "record", "too many records; the structural check gave up")
            return
        if end is not None and end < n:
            self.add(
                end,
                "warning",
                "lite_variant.trailing",
                f"{n - end} bytes after the root record (readers decode only the root)",
            )
        if depth == 0 and t is not None and t not in (_glv.T_LEVEL, _glv.T_COMPRESS):
            self.add(
                0,
                "warning",
                "record.type",
                f"the root record is a {LV_TYPE_NAMES.get(t, t)}, not a LEVEL (ND2_FORMAT.md §3.7 rule 1)",
            )
        if self.nameless:
            k = len(self.nameless)
            self.add(
                min(self.nameless) + 1,
                "warning",
                "record.name_len",
                f"{k} record{'s' if k > 1 else ''} with name_len 0 (an empty name stored without its "
                "NUL terminator; readers accept it, NIS writes it, the spec asks for name_len 1)",
            )

    # -- records
    def _visit(self, p: int, depth: int, path: str, name: str, t: int, text: str) -> None:
        self.visited[p] = (depth, path, name, t, text)

    def _record(self, p: int, end: int, depth: int, path: str, index: int) -> tuple[int, str, int]:
        self._tick()
        buf = self.buf
        if p + 2 > end:
            raise _Fault(
                p,
                "record.type",
                f"record header needs 2 bytes at {self._where(p)} but the "
                f"enclosing block ends {end - p} byte(s) later",
            )
        t, nl = buf[p], buf[p + 1]
        if t == _glv.T_COMPRESS:
            return self._compressed(p, end, depth, path), "", t
        q = p + 2 + nl * _glv._TR_NAME_UNIT
        if q > end:
            raise _Fault(
                p + 1,
                "record.name_len",
                f"name_len {nl} ({nl * _glv._TR_NAME_UNIT} bytes) runs past "
                f"the end of the enclosing block ({end - p - 2} bytes left)",
            )
        raw = bytes(buf[p + 2 : q])
        term = _glv._TR_STR_TERM
        if nl == 0:
            self.nameless.append(p)
        elif raw[-len(term) :] != term:
            self.add(
                q - 2,
                "error",
                "record.name",
                "name does not end in a NUL code unit (name_len must count the terminator)",
            )
        text_name = (raw[: -len(term)] if raw[-len(term) :] == term else raw).decode(
            "utf-16-le", "replace"
        )
        label = f"{path}/{text_name}" if text_name else f"{path}[{index}]"
        if t in (int(lv.LvType.UNKNOWN), int(lv.LvType.DEPRECATED)):
            raise _Fault(
                p,
                "record.type",
                f"type code {t} ({LV_TYPE_NAMES[t]}) is not allowed: nd2 and limnd2 reject it",
            )
        if t not in _glv._TR_KNOWN:
            raise _Fault(p, "record.type", f"unknown type code {t}")
        if t == _glv.T_VOID_POINTER:
            self.add(
                p,
                "error",
                "record.type",
                "type code 7 (VOID_POINTER) must not be written: nd2 reads a "
                "u64, limnd2 a length and that many bytes (read here as u64)",
            )
        sc = _glv._TR_SCALARS.get(t)
        if sc is not None:
            n = sc[1]
            if q + n > end:
                raise _Fault(
                    q,
                    "record.value",
                    f"{LV_TYPE_NAMES[t]} value needs {n} bytes but the enclosing "
                    f"block ends {end - q} byte(s) later",
                )
            v = sc[0](buf, q)[0]
            if t == _glv.T_BOOL and v not in (0, 1):
                self.add(q, "warning", "record.value", f"BOOL value {v} is not 0 or 1")
            self._visit(p, depth, label, text_name, t, repr(v))
            return q + n, text_name, t
        if t == _glv.T_STRING:
            k = _glv._find_unit(buf, term, q, end, _glv._TR_NAME_UNIT)
            if k < 0:
                last = q + ((end - q) // 2) * 2 - 2
                raise _Fault(
                    max(last, q),
                    "string_value.value",
                    f"STRING without terminator: no 00 00 code unit between {self._where(q)} and the "
                    f"end of the enclosing block at {self._where(end)}",
                )
            sraw = bytes(buf[q:k])
            if sraw[:2] in (b"\xff\xfe", b"\xfe\xff"):
                self.add(
                    q,
                    "warning",
                    "string_value.value",
                    "STRING starts with a byte order mark; readers sniff it and may decode differently",
                )
            try:
                text = sraw.decode("utf-16-le")
            except UnicodeDecodeError:
                self.add(q, "warning", "string_value.value", "STRING is not valid UTF-16LE")
                text = sraw.decode("utf-16-le", "replace")
            self._visit(p, depth, label, text_name, t, repr(text))
            return k + len(term), text_name, t
        if t == _glv.T_BYTE_ARRAY:
            ls = _glv._TR_BYTES_LEN_SIZE
            if q + ls > end:
                raise _Fault(
                    q,
                    "byte_array.len",
                    f"BYTEARRAY length field needs {ls} bytes but the enclosing "
                    f"block ends {end - q} byte(s) later",
                )
            n = _glv._TR_BYTES_LEN.unpack_from(buf, q)[0]
            if n > end - q - ls:
                raise _Fault(
                    q,
                    "byte_array.len",
                    f"BYTEARRAY length {n} runs past the end of the enclosing "
                    f"block ({end - q - ls} bytes left)",
                )
            self._visit(p, depth, label, text_name, t, f"({n} bytes)")
            return q + ls + n, text_name, t
        # LEVEL
        self._visit(p, depth, label, text_name, t, "")
        return self._level(p, q, end, depth, label), text_name, t

    def _compressed(self, p: int, end: int, depth: int, path: str) -> int:
        if depth > 0:
            self.add(
                p,
                "error",
                "record.type",
                "compressed (type 76) record inside a LEVEL: readers inflate everything up to the end of "
                "the enclosing buffer and drop the records before it (ND2_FORMAT.md §3.6)",
            )
        start = p + 1 + _glv._TR_COMPRESS_SKIP
        if start > end:
            raise _Fault(
                p, "compressed.reserved", "compressed record truncated before its zlib stream"
            )
        try:
            inner = _glv._inflate(bytes(self.buf[start:end]), "compressed", "inflated", start)
        except CorruptChunkError as e:
            raise _Fault(start, "compressed.inflated", e.message) from None
        self._visit(p, depth, path + "<zlib>", "", _glv.T_COMPRESS, f"<zlib {end - start} bytes>")
        sub = _LvWalker(inner, None, self._abs(p))
        sub.steps = self.steps
        sub.check_stream(depth + 1, path + "<zlib>")
        self.findings.extend(sub.findings)
        return end

    # -- LEVEL
    def _children(
        self, body: int, bound: int, count: int, depth: int, path: str
    ) -> tuple[list[tuple[int, str, int]], int, _Fault | None]:
        kids: list[tuple[int, str, int]] = []
        pos = body
        for i in range(count):
            try:
                e, name, t = self._record(pos, bound, depth, path, i)
            except _Fault as f:
                return kids, pos, f
            kids.append((pos, name, t))
            pos = e
        return kids, pos, None

    def _table(self, at: int, count: int) -> list[int] | None:
        size = _glv._TR_OFFSET_SIZE
        if at < 0 or at + size * count > len(self.buf):
            return None
        return [_glv._TR_OFFSET.unpack_from(self.buf, at + size * i)[0] for i in range(count)]

    def _table_matches(self, p: int, at: int, kids: list[tuple[int, str, int]]) -> bool:
        table = self._table(at, len(kids))
        return table is not None and sorted(table) == sorted(k[0] - p for k in kids)

    def _check_level(
        self, p: int, at: int, kids: list[tuple[int, str, int]], table: bool = True
    ) -> None:
        if table and kids and not self._table_matches(p, at, kids):
            self.add(
                at,
                "warning",
                "level.offsets",
                "the offset table does not list the children's offsets (readers ignore it; "
                "NIS and limnd2 write it)",
            )
        seen: dict[str, int] = {}
        for pos, name, _t in kids:
            if not name:
                continue
            if name in seen:
                self.add(
                    pos,
                    "warning",
                    "level_body.children",
                    f"duplicate name {name!r} in one LEVEL (nd2 keeps the last, limnd2 renames it)",
                )
            seen[name] = pos

    def _records_until(
        self, start: int, end: int, depth: int, path: str, first_index: int = 0
    ) -> tuple[_LvWalker, list[tuple[int, str, int]]] | None:
        """Records parsed one after the other from `start` that end exactly at `end`."""
        w = self.fork()
        pos, kids = start, []
        while pos < end and len(kids) < 100_000:
            try:
                e, name, t = w._record(pos, end, depth, path, first_index + len(kids))
            except _Fault:
                return None
            kids.append((pos, name, t))
            pos = e
        return (w, kids) if pos == end else None

    def _recover_by_table(
        self, p: int, body: int, decl_end: int, count: int, depth: int, path: str
    ) -> bool:
        table = self._table(decl_end, count)
        if not table:
            return False
        starts = sorted({p + o for o in table})
        if len(starts) != count or starts[0] != body or starts[-1] >= decl_end:
            return False
        kids: list[tuple[int, str, int]] = []
        for i, s in enumerate(starts):
            bound = starts[i + 1] if i + 1 < count else decl_end
            try:
                e, name, t = self._record(s, bound, depth, path, i)
            except _Fault as f:
                self._add_fault(f)
                continue
            kids.append((s, name, t))
            if e != bound:
                self.add(
                    e,
                    "error",
                    "level_body.children",
                    f"record at {self._where(s)} ends at {self._where(e)}, but the LEVEL offset table "
                    f"puts the next child at {self._where(bound)}",
                )
        self._check_level(p, decl_end, kids, table=False)
        return True

    def _salvage(self, body: int, end: int, count: int, depth: int, path: str) -> None:
        """Keep the records readable before a fatal LEVEL fault (for ``inspect``)."""
        b = self.fork()
        b._children(body, end, count, depth + 1, path)
        self.visited.update(b.visited)

    def _level(self, p: int, q: int, end: int, depth: int, path: str) -> int:
        head, hs, osz = _glv._TR_LEVEL_HEAD, _glv._TR_LEVEL_HEAD_SIZE, _glv._TR_OFFSET_SIZE
        if q + hs > end:
            raise _Fault(
                q,
                "level.item_count",
                f"LEVEL header (item_count, length) needs {hs} bytes but the "
                f"enclosing block ends {end - q} byte(s) later",
            )
        count, length = head.unpack_from(self.buf, q)
        body = q + hs
        hdr = body - p
        if length < hdr:
            raise _Fault(
                q + 4,
                "level.length",
                f"LEVEL length {length} is smaller than its own header ({hdr} bytes)",
            )
        if count * (3 + osz) > end - body:
            self._salvage(body, end, count, depth, path)
            raise _Fault(
                q,
                "level.item_count",
                f"item_count {count} cannot fit: {count} records and their "
                f"offsets need at least {count * (3 + osz)} bytes, "
                f"{end - body} are left",
            )
        decl_end = p + length
        tab_end = decl_end + osz * count
        first = None
        if tab_end <= end:
            a = self.fork()
            kids, c, fault = a._children(body, decl_end, count, depth + 1, path)
            if fault is None and c == decl_end:
                self.merge(a)
                self._check_level(p, decl_end, kids)
                return tab_end
            first = (a, kids, c, fault)
        # the declared length does not work: do the children end somewhere else?
        b = self.fork()
        kids2, c2, fault2 = b._children(body, end, count, depth + 1, path)
        if fault2 is None and c2 != decl_end and c2 + osz * count <= end:
            if self._table_matches(p, c2, kids2) or first is None:
                self.merge(b)
                self.add(
                    q + 4,
                    "error",
                    "level.length",
                    f"LEVEL length {length} does not match its content: the {count} children end "
                    f"{c2 - p} bytes after the record start, so length should be {c2 - p} "
                    f"(readers look for the offset table at {self._where(decl_end)})",
                )
                self._check_level(p, c2, kids2)
                return c2 + osz * count
        if first is None:
            if decl_end <= end:  # is item_count too large (the table then starts earlier)?
                got = self._records_until(body, decl_end, depth + 1, path)
                if (
                    got is not None
                    and len(got[1]) != count
                    and self._table_matches(p, decl_end, got[1])
                ):
                    w, kids = got
                    self.merge(w)
                    self.add(
                        q,
                        "error",
                        "level.item_count",
                        f"item_count {count}, but the LEVEL body holds {len(kids)} records",
                    )
                    self._check_level(p, decl_end, kids)
                    return decl_end + osz * len(kids)
            self.visited.update(b.visited)
            raise _Fault(
                q + 4,
                "level.length",
                f"LEVEL length {length} with item_count {count} runs {tab_end - end} bytes past the end "
                "of the enclosing block",
            )
        a, kids, c, fault = first
        if fault is None:  # ends before decl_end
            more = self._records_until(c, decl_end, depth + 1, path, len(kids))
            self.merge(a)
            if more is not None:
                self.merge(more[0])
                kids = kids + more[1]
                self.add(
                    q,
                    "error",
                    "level.item_count",
                    f"item_count {count}, but the LEVEL body holds {len(kids)} records",
                )
            else:
                self.add(
                    c,
                    "warning",
                    "level_body.gap",
                    f"{decl_end - c} bytes between the last child and the end given by length "
                    "(readers skip them; writers must make length exact)",
                )
            self._check_level(p, decl_end, kids)
            return tab_end
        if c == decl_end and len(kids) < count:
            self.merge(a)
            self.add(
                q,
                "error",
                "level.item_count",
                f"item_count {count}, but the LEVEL body holds only {len(kids)} records",
            )
            return tab_end
        r = self.fork()
        if r._recover_by_table(p, body, decl_end, count, depth + 1, path):
            self.merge(r)
            return tab_end
        self.merge(a)
        self._add_fault(fault)
        return tab_end


def walk_lite_variant(
    payload: bytes, base: int = 0
) -> tuple[list[tuple[int, int, str, str, int, str]], list[Finding]]:
    """Structurally check a LiteVariant payload located at file offset `base`.

    Returns the records that could be read, ``[(pos, depth, path, name, type, text)]``
    sorted by position (``pos`` relative to `payload`), and the findings (absolute
    offsets, chunk left None).
    """
    w = _LvWalker(bytes(payload), base)
    w.check_stream()
    visited = sorted((p,) + v for p, v in w.visited.items())
    return visited, [Finding(s, None, o, spec, m) for s, o, spec, m in w.findings]


# ----------------------------------------------------------------------------- parsers


def _k_name_bytes(k: Any) -> bytes:
    return k.name.encode("utf-16-le", "surrogatepass")


def _l_name_bytes(r: Any) -> bytes:
    if r.name_raw is not None:
        return r.name_raw
    return r.name.encode("utf-16-le", "surrogatepass") + _glv._TR_STR_TERM


def _same_scalar(t: int, a: Any, b: Any) -> bool:
    if t == _glv.T_DOUBLE:
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


def compare_trees(k: Any, r: Any, path: str = "") -> str | None:
    """First difference between a Kaitai ``LiteVariant.Record`` and an ``LvRecord``."""
    kt = int(k.type)
    if kt != r.type:
        return f"{path or '/'}: type {kt} vs {r.type}"
    if kt == _glv.T_COMPRESS:
        here = path + "<zlib>"
        reserved = bytes([k.name_len]) + bytes(k.value.reserved)
        if r.reserved is not None and reserved != r.reserved:
            return f"{here}: reserved bytes differ"
        inner = k.value.inflated
        d = compare_trees(inner.root, r.value, here)
        if d:
            return d
        if bytes(inner.trailing) != bytes(r.gap):
            return f"{here}: bytes after the inflated root differ"
        return None
    if _k_name_bytes(k) != _l_name_bytes(r):
        return f"{path}: name {k.name!r} vs {r.name!r}"
    here = f"{path}/{r.name}"
    if kt == _glv.T_LEVEL:
        kids = k.value.body.children
        if len(kids) != len(r.value):
            return f"{here}: {len(kids)} vs {len(r.value)} children"
        for i, (a, b) in enumerate(zip(kids, r.value)):
            d = compare_trees(a, b, here if b.name else f"{here}[{i}]")
            if d:
                return d
        if bytes(k.value.body.gap) != bytes(r.gap):
            return f"{here}: gap bytes differ"
        if [int(x) for x in k.value.offsets] != [int(x) for x in (r.offsets or ())]:
            return f"{here}: offset tables differ"
        return None
    if kt == _glv.T_STRING:
        kv = k.value.value
    elif kt == _glv.T_BYTE_ARRAY:
        kv = bytes(k.value.data)
    else:
        kv = k.value
    rv = bytes(r.value) if kt == _glv.T_BYTE_ARRAY else r.value
    if not _same_scalar(kt, kv, rv):
        return f"{here}: value {kv!r} vs {rv!r}"
    return None


def _first_diff(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    for i in range(0, n, 4096):
        if a[i : i + 4096] != b[i : i + 4096]:
            for j in range(i, min(n, i + 4096)):
                if a[j] != b[j]:
                    return j
    return n


# ----------------------------------------------------------------------------- modern files


class _Modern:
    def __init__(
        self, buf: Any, rep: ValidationReport, sink: _Sink, roundtrip: bool, path: str | None
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
        self.lv_trees: dict[str, Any] = {}
        self.xml_recs: dict[str, list[tuple[int, str, str, str | None, int]]] = {}
        self.kinds: dict[int, str] = {}

    # -- driver
    def run(self) -> None:
        self.signature()
        if not self.chunk_map():
            return
        head_ok = not self.rep.errors
        self.entries()
        self.contents()
        self.frames()
        if head_ok:
            self.kaitai_container()
        if self.roundtrip:
            self.map_roundtrip()

    # -- signature
    def signature(self) -> None:
        if self.size < SIGNATURE_END:
            self.s.error(
                SIGNATURE_NAME,
                0,
                f"{K_C}:signature_chunk",
                f"the file has {self.size} bytes, too few for the signature chunk ({SIGNATURE_END})",
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
                0x30,
                f"{K_C}:signature_chunk.version",
                f"version {self.version[0]}.{self.version[1]} is neither 2.x nor 3.x",
            )

    # -- trailer + map
    def _scan_after_failure(self) -> None:
        rows, stop = scan_chunks(self.buf, start=SIGNATURE_END)
        self.s.count("chunks_scanned", len(rows))
        maps = [r for r in rows if r.name == FILEMAP_NAME]
        if stop is not None:
            row = rows[-1]
            self.s.error(
                stop.chunk,
                stop.offset,
                f"{K_C}:chunk.data",
                f"the file ends inside this chunk's payload (header at {_hex(row.offset)}, data_len "
                f"{row.data_len}, {row.data_offset + row.data_len - self.size} bytes missing): "
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
                f"{_hex(max(r.data_offset + r.data_len for r in rows))}"
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
        if size < TRAILER_SIZE + HEADER_SIZE:
            self.s.error(
                TRAILER,
                max(0, size - TRAILER_SIZE),
                f"{K_C}:map_trailer",
                f"the file has {size} bytes, too few for a chunk and the {TRAILER_SIZE}-byte trailer",
            )
            self._scan_after_failure()
            return False
        try:
            tr = _gc.MapTrailer.parse(self.buf, size - TRAILER_SIZE, size)
        except Nd2Error as e:
            found = bytes(self.buf[size - TRAILER_SIZE : size - TRAILER_SIZE + 16])
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
        mo = tr.map_offset
        if mo + HEADER_SIZE > size:
            self.s.error(
                TRAILER,
                size - 8,
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
                e.offset,
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
                e.offset,
                _spec_from(K_C, e, f"{K_C}:chunk_map.entries"),
                f"chunk map entries: {e.message}",
            )
            return False
        self.map_info = info
        return True

    # -- entries
    def entries(self) -> None:
        cm, buf, size = self.cm, self.buf, self.size
        names, offs, sizes = cm.names, cm.offsets.tolist(), cm.sizes.tolist()
        epos = cm.entry_positions().tolist()
        counts = Counter(names)
        self.s.count("map_entries", len(names))
        unaligned: list[int] = []
        for i, (name, off, sz) in enumerate(zip(names, offs, sizes)):
            off_field = epos[i] + len(name)
            size_field = off_field + 8
            if counts[name] > 1:
                self.s.error(
                    name,
                    epos[i],
                    f"{K_C}:chunk_map_entry.name",
                    f"duplicate map entry: {name!r} is listed {counts[name]} times (nd2 keeps the last "
                    "entry, limnd2 the one with the highest offset)",
                )
            if off + HEADER_SIZE > size:
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
                    e.offset,
                    _header_spec(e, off),
                    f"{e.message} (chunk listed in the map at {_hex(off)})",
                )
                continue
            if ci.name != name:
                self.s.error(
                    name,
                    off + HEADER_SIZE,
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
                names[i],
                offs[i],
                "ND2_FORMAT.md §1.3",
                f"{len(unaligned)} chunk(s) do not start on a 4 KiB boundary (NIS writes every chunk "
                "4 KiB aligned; readers do not require it)",
            )
        # overlaps
        spans = [(0, SIGNATURE_END, SIGNATURE_NAME)]
        assert self.map_info is not None
        spans.append((self.map_info.offset, self.map_info.end, FILEMAP_NAME))
        for i, ci in self.infos.items():
            if names[i] == SIGNATURE_NAME and ci.offset == 0:
                continue
            spans.append((ci.offset, ci.end, names[i]))
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

    def contents(self) -> None:
        names = self.cm.names
        for i, ci in self.infos.items():
            name = names[i]
            head = bytes(self.buf[ci.data_offset : min(ci.end, ci.data_offset + KIND_HEAD)])
            kind = chunk_kind(name, head, ci.data_len)
            self.kinds[i] = kind
            self.s.count(f"kind:{kind}")
            if kind == "lite-variant":
                self.lite_variant(name, ci)
            elif kind == "xml":
                self.xml(name, ci)
            elif kind == "rle-mask":
                self.rle(name, ci)
            if XML_NAME_RE.match(name) and kind != "xml":
                self.s.error(
                    name,
                    ci.data_offset,
                    "ND2_FORMAT.md §4.1",
                    f"expected an XML-variant payload, found bytes {head[:8].hex()}",
                )

    def lite_variant(self, name: str, ci: container.ChunkInfo) -> None:
        payload = self._payload(ci)
        base = ci.data_offset
        w = _LvWalker(payload, base)
        w.check_stream()
        self.s.count("lv_records", len(w.visited))
        for sev, off, spec, msg in w.findings:
            self.s.add(sev, name, off, spec, msg)
        kt = None
        try:
            from .._generated.kaitai.lite_variant import LiteVariant as _KLv

            kt = _KLv.from_bytes(payload)
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
                e.offset,
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
        self.lv_trees[name] = tree
        root = tree.root.value if tree.root.type == _glv.T_COMPRESS else tree.root
        want = ROOT_NAMES.get(name) or next(
            (v for r, v in ROOT_NAME_RE.items() if r.match(name)), None
        )
        if want and root.type == _glv.T_LEVEL and root.name != want:
            self.s.warning(
                name,
                base,
                "ND2_FORMAT.md §3.4",
                f"the root record is named {root.name!r}, expected {want!r} (limnd2 looks it up by name)",
            )
        if self.roundtrip:
            self.s.count("roundtrip_chunks")
            enc = lv.encode(tree)
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

    def xml(self, name: str, ci: container.ChunkInfo) -> None:
        strict = bool(XML_NAME_RE.match(name)) or name.startswith("CustomDataVar|")
        sev = "error" if strict else "warning"
        try:
            from ..codecs import xml_variant
        except ImportError as e:  # pragma: no cover - shipped with the package
            self.s.warning(
                name, ci.data_offset, "ND2_FORMAT.md §4", f"XML decoder not available ({e})"
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
            self.s.add(sev, name, off, "ND2_FORMAT.md §4.1", msg)
            return
        except Exception as e:  # noqa: BLE001
            self.s.add(
                sev,
                name,
                ci.data_offset,
                "ND2_FORMAT.md §4.1",
                f"XML variant cannot be decoded: {type(e).__name__}: {e}",
            )
            return
        self.s.count("xml_records", len(recs))
        self.xml_recs[name] = recs
        if strict and recs and recs[0][1] != "variant":
            self.s.warning(
                name,
                ci.data_offset + recs[0][4],
                "ND2_FORMAT.md §4.1",
                f"root element is <{recs[0][1]}>, expected <variant>",
            )

    def rle(self, name: str, ci: container.ChunkInfo) -> None:
        from ..codecs import rle

        try:
            rle.decode_rle_mask(self._payload(ci), chunk=name, base=ci.data_offset)
        except Nd2Error as e:
            self.s.error(
                name,
                e.offset,
                _spec_from(K_RLE, e, f"{K_RLE}:rle_stream"),
                f"RLE mask cannot be decoded: {e.message}",
            )

    # -- attributes and frames
    def _attributes(
        self, name: str, ci: container.ChunkInfo
    ) -> tuple[dict[str, Any], dict[str, int]] | None:
        tree = self.lv_trees.get(name)
        if tree is not None:
            root = tree.root
            packed = root.type == _glv.T_COMPRESS
            if packed:
                root = root.value
            if root.type != _glv.T_LEVEL:
                return None
            payload = self._payload(ci)
            vals: dict[str, Any] = {}
            offs: dict[str, int] = {}
            for c in root.value:
                if c.type == _glv.T_LEVEL:
                    continue
                vals[c.name] = c.value
                offs[c.name] = (
                    ci.data_offset
                    if packed or c.pos is None
                    else (ci.data_offset + c.pos + 2 + payload[c.pos + 1] * _glv._TR_NAME_UNIT)
                )
            return vals, offs
        recs = self.xml_recs.get(name)
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
        names = self.cm.names
        last = {n: i for i, n in enumerate(names)}
        epos = self.cm.entry_positions().tolist()
        major = self.version[0] if self.version else 3
        lvname, xname = "ImageAttributesLV!", "ImageAttributes!"
        expected, other = (lvname, xname) if major >= 3 else (xname, lvname)
        attr = expected if expected in last else None
        if attr is None:
            if other in last:
                self.s.error(
                    other,
                    epos[last[other]],
                    "ND2_FORMAT.md §1.6",
                    f"a version {major}.x file must keep its attributes in {expected!r}; nd2 does not "
                    f"read {other!r} in this version",
                )
                attr = other
            else:
                self.s.error(
                    expected,
                    None,
                    "ND2_FORMAT.md §1.7",
                    f"the required chunk {expected!r} is missing from the chunk map",
                )
        seqmeta = "ImageMetadataSeqLV|0!" if major >= 3 else "ImageMetadataSeq|0!"
        if seqmeta not in last:
            self.s.warning(
                seqmeta,
                None,
                "ND2_FORMAT.md §1.7",
                f"{seqmeta!r} is missing (nd2 0.12 requires it to open the file)",
            )
        frame_idx: dict[int, list[int]] = {}
        for i, n in enumerate(names):
            if not n.startswith("ImageDataSeq|"):
                continue
            m = FRAME_RE.match(n)
            if not m:
                self.s.error(
                    n,
                    epos[i],
                    "ND2_FORMAT.md §2.1",
                    "frame chunk name is not 'ImageDataSeq|N!' with a decimal N",
                )
                continue
            if m.group(1) != str(int(m.group(1))):
                self.s.warning(
                    n, epos[i], "ND2_FORMAT.md §1.7", "frame index written with leading zeros"
                )
            frame_idx.setdefault(int(m.group(1)), []).append(i)
        self.s.count("frames", len(frame_idx))
        if attr is None or last[attr] not in self.infos:
            return
        aci = self.infos[last[attr]]
        got = self._attributes(attr, aci)
        if got is None:
            return
        vals, offs = got
        bad = False
        for k in REQUIRED_ATTRIBUTES:
            if k not in vals:
                self.s.error(
                    attr,
                    aci.data_offset,
                    "ND2_FORMAT.md §7.1",
                    f"attribute {k} is missing (nd2 requires it)",
                )
                bad = True
            elif not isinstance(vals[k], int) or isinstance(vals[k], bool):
                self.s.error(
                    attr,
                    offs.get(k),
                    "ND2_FORMAT.md §7.1",
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
                "ND2_FORMAT.md §2.3",
                f"uiBpcInMemory {bpc} is not 8, 16 or 32",
            )
        if vals["uiBpcSignificant"] > bpc:
            self.s.warning(
                attr,
                offs.get("uiBpcSignificant"),
                "ND2_FORMAT.md §2.3",
                f"uiBpcSignificant {vals['uiBpcSignificant']} > uiBpcInMemory {bpc}",
            )
        bytes_pc = math.ceil(bpc / 8)
        need = w * comp * bytes_pc
        if wb < need:
            self.s.error(
                attr,
                offs.get("uiWidthBytes"),
                "ND2_FORMAT.md §2.2",
                f"row stride uiWidthBytes {wb} is smaller than uiWidth {w} x uiComp {comp} x "
                f"{bytes_pc} byte(s) = {need}",
            )
        ec = vals.get("eCompression", 2)
        if ec not in (0, 1, 2):
            self.s.error(
                attr, offs.get("eCompression"), "ND2_FORMAT.md §2.5", f"unknown eCompression {ec!r}"
            )
        elif ec == 1:
            self.s.warning(
                attr,
                offs.get("eCompression"),
                "ND2_FORMAT.md §2.5",
                "lossy compression (eCompression 1): the codec is unknown, frame payloads not checked",
            )
        for key, full in (("uiTileWidth", w), ("uiTileHeight", h)):
            v = vals.get(key)
            if isinstance(v, int) and v not in (0, full):
                self.s.warning(
                    attr,
                    offs.get(key),
                    "ND2_FORMAT.md §2.4",
                    f"{key} {v} differs from the image size {full}: no reader implements tiled frames",
                )
        seq_off = offs.get("uiSequenceCount")
        if len(frame_idx) != seq:
            self.s.error(
                attr,
                seq_off,
                "ND2_FORMAT.md §2.1",
                f"uiSequenceCount is {seq} but the chunk map lists {len(frame_idx)} ImageDataSeq|N! chunks",
            )
        # (a huge, corrupt count is reported by the mismatch above; list only a few gaps)
        span = range(seq) if seq <= len(frame_idx) + 100_000 else range(len(frame_idx) + 21)
        missing = [k for k in span if k not in frame_idx]
        for k in missing[:20]:
            self.s.error(
                attr,
                seq_off,
                "ND2_FORMAT.md §2.1",
                f"frame chunk ImageDataSeq|{k}! is missing (frames must be numbered 0..uiSequenceCount-1)",
            )
        if len(missing) > 20:
            self.s.error(
                attr,
                seq_off,
                "ND2_FORMAT.md §2.1",
                f"{len(missing) - 20} more frame chunks are missing",
            )
        for k in sorted(frame_idx):
            if k >= seq:
                i = frame_idx[k][0]
                self.s.error(
                    names[i],
                    epos[i],
                    "ND2_FORMAT.md §2.1",
                    f"frame index {k} >= uiSequenceCount {seq}",
                )
        expected_len = 8 + h * wb
        for idxs in frame_idx.values():
            for i in idxs:
                ci = self.infos.get(i)
                if ci is None:
                    continue
                n = names[i]
                if ec == 2:
                    if ci.data_len != expected_len:
                        self.s.error(
                            n,
                            ci.offset + 8,
                            f"{K_C}:chunk_header.data_len",
                            f"uncompressed frame data_len {ci.data_len} != 8 + uiHeight {h} x "
                            f"uiWidthBytes {wb} = {expected_len}",
                        )
                    if ci.name_len != FRAME_NAME_LEN:
                        self.s.error(
                            n,
                            ci.offset + 4,
                            f"{K_C}:chunk_header.name_len",
                            f"uncompressed frame has name_len {ci.name_len}: nd2 reads the pixels at "
                            f"chunk offset + 4096 and needs name_len {FRAME_NAME_LEN} (ND2_FORMAT.md §1.3)",
                        )
                elif ec == 0:
                    self._lossless_frame(n, ci, h * wb)
        acq = last.get("CustomData|AcqTimesCache!")
        if acq is not None and acq in self.infos and self.infos[acq].data_len != 8 * seq:
            ci = self.infos[acq]
            self.s.warning(
                "CustomData|AcqTimesCache!",
                ci.offset + 8,
                "ND2_FORMAT.md §6.5",
                f"AcqTimesCache holds {ci.data_len} bytes, expected 8 x uiSequenceCount = {8 * seq}",
            )

    def _lossless_frame(self, name: str, ci: container.ChunkInfo, want: int) -> None:
        if ci.data_len < 8:
            self.s.error(
                name,
                ci.offset + 8,
                f"{K_C}:image_frame.timestamp",
                f"frame data_len {ci.data_len} is shorter than the 8-byte timestamp",
            )
            return
        d = zlib.decompressobj()
        try:
            out = d.decompress(bytes(self.buf[ci.data_offset + 8 : ci.end]), want + 1)
        except zlib.error as e:
            self.s.error(
                name,
                ci.data_offset + 8,
                f"{K_C}:image_frame.zlib_stream",
                f"lossless frame is not a valid zlib stream ({e})",
            )
            return
        if len(out) != want or not d.eof:
            self.s.error(
                name,
                ci.data_offset + 8,
                f"{K_C}:image_frame.zlib_stream",
                f"lossless frame inflates to {len(out)}{'+' if len(out) > want else ''} bytes"
                f"{'' if d.eof else ' (stream incomplete)'}, expected uiHeight x uiWidthBytes = {want}",
            )

    # -- reference parser for the container
    def kaitai_container(self) -> None:
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


# ----------------------------------------------------------------------------- legacy files


JP2_SIGNATURE_BOX = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_SOC_SIZ = b"\xff\x4f\xff\x51"


class _Legacy:
    def __init__(self, buf: Any, rep: ValidationReport, sink: _Sink) -> None:
        self.buf = buf
        self.size = len(buf)
        self.rep = rep
        self.s = sink

    def run(self) -> None:
        buf, size, s = self.buf, self.size, self.s
        if bytes(buf[:12]) != JP2_SIGNATURE_BOX:
            s.error(
                "jP  ",
                0,
                f"{K_JP2}:box",
                "the file does not start with the 12-byte JPEG 2000 signature box",
            )
        ts = _gjp2.BoxMapTrailer.SIZE
        if size < ts + 4:
            s.error(
                TRAILER,
                0,
                f"{K_JP2}:box_map_trailer",
                f"the file has {size} bytes, too few for a box map",
            )
            return
        try:
            tr = _gjp2.BoxMapTrailer.parse(buf, size - ts, size)
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
        start = size - tr.distance
        if not 0 <= start <= size - ts - 4:
            s.error(
                TRAILER,
                size - 8,
                f"{K_JP2}:box_map_trailer.distance",
                f"box map distance {tr.distance} points outside the file",
            )
            return
        try:
            bm = _gjp2.BoxMap.parse(buf, start, size - ts)
        except Nd2Error as e:
            s.error(
                "<box map>",
                e.offset,
                _spec_from(K_JP2, e, f"{K_JP2}:box_map.entries"),
                f"box map: {e.message}",
            )
            return
        room = size - ts - start - 4
        if bm._end_pos != size - ts:
            if room == 12 * bm.count:
                s.error(
                    "<box map>",
                    start,
                    f"{K_JP2}:box_map_entry",
                    "the box map has 12-byte entries (limnd2's layout); the spec and nd2 use 16-byte entries "
                    "with u64 offsets",
                )
            else:
                s.warning(
                    "<box map>",
                    bm._end_pos,
                    f"{K_JP2}:box_map",
                    f"{size - ts - bm._end_pos} bytes between the box map entries and the trailer",
                )
        walked, stop = legacy_boxes(buf, start)
        if stop is not None:
            s.error("<jp2 boxes>", stop.offset, f"{K_JP2}:box.len", stop.message)
        s.count("boxes", len(walked))
        s.count("map_entries", len(bm.entries))
        at = {o: (t, n) for t, o, n in walked}
        tags: dict[str, list[int]] = {}
        mapped = set()
        for e in bm.entries:
            label = e.tag.strip() or e.box_type
            if e.offset not in at:
                where = (
                    "points outside the box area"
                    if e.offset >= start
                    else "does not point at the start of a top-level box"
                )
                s.error(
                    e.tag,
                    e._pos + 8,
                    f"{K_JP2}:box_map_entry.offset",
                    f"map entry ({e.box_type!r}, {e.tag!r}) {where}: offset {_hex(e.offset)}",
                )
                continue
            mapped.add(e.offset)
            t, _n = at[e.offset]
            if t != e.box_type:
                s.error(
                    e.tag,
                    e._pos,
                    f"{K_JP2}:box_map_entry.box_type",
                    f"the map says box type {e.box_type!r}, the box at {_hex(e.offset)} is {t!r}",
                )
            tags.setdefault(label, []).append(e.offset)
        unmapped = [o for _t, o, _n in walked if o not in mapped]
        if unmapped:
            s.warning(
                at[unmapped[0]][0],
                unmapped[0],
                f"{K_JP2}:box_map",
                f"{len(unmapped)} top-level box(es) are not listed in the box map",
            )
        self._contents(walked, tags)
        self._cross_check(bm)

    def _contents(self, walked: list[tuple[str, int, int]], tags: dict[str, list[int]]) -> None:
        buf, s = self.buf, self.s
        jp2h = [o for t, o, _n in walked if t == "jp2h"]
        ihdr = False
        for o in jp2h:
            try:
                b = _gjp2.Box.parse(buf, o, self.size)
                ihdr = ihdr or any(c.box_type == "ihdr" for c in b.body.boxes)
            except Nd2Error as e:
                s.error(
                    "jp2h", e.offset, _spec_from(K_JP2, e, f"{K_JP2}:box"), f"jp2h box: {e.message}"
                )
        if not ihdr:
            s.error(
                "jp2h",
                jp2h[0] if jp2h else None,
                "ND2_FORMAT.md §5.4",
                "no jp2h box with an ihdr image header (both readers take the image size from it)",
            )
        for o in tags.get("LUNK", []):
            if bytes(buf[o + 8 : o + 12]) != J2K_SOC_SIZ:
                s.error(
                    "LUNK",
                    o + 8,
                    "ND2_FORMAT.md §5.3",
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
            try:
                etree.fromstring(bytes(buf[o + 8 : o + n]), etree.XMLParser(huge_tree=True))
            except etree.XMLSyntaxError as e:
                tag = next((g for g, offs in tags.items() if o in offs), "xml ")
                s.error(tag, o + 8, "ND2_FORMAT.md §5.3", f"XML box is not well-formed: {e}")
        s.count("xml_boxes", n_xml)
        vcal = len(tags.get("VCAL", []))
        lunk = len(tags.get("LUNK", []))
        s.count("frames", vcal)
        if vcal == 0:
            s.error(
                "VCAL",
                None,
                "ND2_FORMAT.md §5.3",
                "no VCAL box: the frame count is the number of VCAL boxes",
            )
        elif lunk % vcal:
            s.warning(
                "LUNK",
                None,
                "ND2_FORMAT.md §5.4",
                f"{lunk} LUNK codestreams are not a multiple of the {vcal} frames (VCAL boxes)",
            )

    def _cross_check(self, bm: Any) -> None:
        from ..codecs import jp2

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
                None,
                f"{K_JP2}:box_map",
                "the Kaitai reference parser and the fast parser disagree on the box map",
            )


# ----------------------------------------------------------------------------- entry point


def validate_file(src: Any, roundtrip: bool = False) -> ValidationReport:
    """Validate an ND2 file given as a path or as bytes.

    Parameters
    ----------
    src : str, os.PathLike or bytes-like
        The file.
    roundtrip : bool
        Also re-encode every LiteVariant chunk (and the chunk map) losslessly and
        report the first byte that differs.

    Returns
    -------
    ValidationReport
        Never raises for bad content; ``readable`` is False (exit code 2) when the
        path cannot be opened or the bytes are not an ND2 file.
    """
    path = None if isinstance(src, (bytes, bytearray, memoryview)) else str(src)
    rep = ValidationReport(path=path, roundtrip=roundtrip)
    sink = _Sink(rep)
    try:
        source = open_source(src)
    except OSError as e:
        rep.readable = False
        sink.error(None, None, "io", f"cannot open: {e}")
        return rep
    with source:
        buf = source.buf
        rep.size = len(buf)
        head = bytes(buf[:4])
        if head == container.JP2_MAGIC_BYTES:
            rep.format, rep.version = "legacy", (1, 0)
            _Legacy(buf, rep, sink).run()
        elif head == container.CHUNK_MAGIC_BYTES:
            rep.format = "modern"
            _Modern(buf, rep, sink, roundtrip, source.path).run()
        else:
            rep.readable = False
            sink.error(
                None,
                0,
                f"{K_C}:signature_chunk.magic",
                f"not an ND2 file: the first bytes are {head.hex() or '(empty file)'}, neither the chunk "
                "magic da ce be 0a nor a JPEG 2000 signature box",
            )
    return rep
