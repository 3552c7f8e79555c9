"""Structural walk of a LiteVariant stream that locates damage, and the comparison
of the Kaitai reference tree with the fast decoder's tree.

Moved verbatim from ``check/validate.py``; to be replaced by the generated
LiteVariant checking walker.
"""

from __future__ import annotations

import struct
from typing import Any

from .._generated.fast import lite_variant as _glv
from ..codecs import lite_variant as lv
from ..errors import CorruptChunkError
from .report import K_LV, LV_TYPE_NAMES, Finding
from .report import hex_offset as _hex

__all__ = ["compare_trees", "walk_lite_variant"]


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

