"""Look inside an ND2 file: version, chunk table, one chunk's decoded records.

This is the library side of ``nd2kit inspect``. Everything here works on damaged
files as far as the bytes allow: instead of raising, the functions return what they
could read plus a list of :class:`Problem` entries saying where reading stopped and
why (all offsets are absolute file offsets).

* :func:`inspect_file` — the table of contents: format generation and version, the
  file signature, the chunk map (one :class:`ChunkRow` per map entry, plus rows for
  the signature chunk and the map chunk itself), or the JPEG 2000 box list of a
  legacy (v1.0) file. When the trailer or the map cannot be read the chunks are
  recovered by scanning for chunk headers (rows with ``source == "scan"``).
* :func:`inspect_chunk` — one chunk (or legacy box) in detail: every LiteVariant or
  XML record with the absolute offset of its first byte, or a hex dump for raw
  payloads (frames, caches, masks...).

Kinds (``ChunkRow.kind``), decided from the chunk name and the first payload bytes
(:func:`chunk_kind`): ``signature``, ``map``, ``frame`` (``ImageDataSeq|N!``),
``lite-variant``, ``xml``, ``rle-mask`` (``CustomDataSeq|RleZipBinarySequence…|N!``)
and ``binary`` (anything else).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..codecs import container, jp2, names
from ..codecs import lite_variant as lv
from ..errors import Nd2Error
from ..model.limits import metadata_inflate_limit
from .inflation import inflate_once
from .lv_walk import iter_tree
from .report import K_LV, LV_TYPE_NAMES, Problem, gc_paused
from .scan import (
    CHUNK_MAGIC,
    FILEMAP_NAME,
    KIND_HEAD,
    SIGNATURE_NAME,
    ChunkRow,
    chunk_kind,
    legacy_boxes,
    legacy_map,
    open_source,
    scan_chunks,
)
from .summary import FileSummary, summarize

__all__ = [
    "BoxRow",
    "ChunkDetail",
    "ChunkRow",
    "ChunkRun",
    "ChunkSeries",
    "InspectResult",
    "Problem",
    "chunk_kind",
    "chunk_runs",
    "folded_rows",
    "hexdump",
    "inspect_chunk",
    "inspect_file",
    "open_source",
    "scan_chunks",
]

# ----------------------------------------------------------------------------- data


@dataclass
class BoxRow:
    """One top-level box of a legacy (JPEG 2000) file: type, LIM tag, offset, length."""

    box_type: str
    tag: str | None
    offset: int
    length: int | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkSeries:
    """Sound members of a numbered chunk series (``ImageDataSeq|N!``) as arrays.

    One element per map entry, sorted by chunk offset (then map index): ``index``
    (map order), ``number`` (N), ``offset``, ``size`` (map size field, -1 unknown),
    ``name_len``, ``data_offset`` and ``data_len`` (from the chunk header). Members
    with any problem are not here: they are ordinary rows of
    ``InspectResult.rows``. :meth:`rows` gives the :class:`ChunkRow` of each member.
    """

    prefix: str
    kind: str
    index: np.ndarray
    number: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    name_len: np.ndarray
    data_offset: np.ndarray
    data_len: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def _columns(self) -> Iterator[tuple[Any, ...]]:
        return zip(
            self.number.tolist(),
            self.offset.tolist(),
            self.index.tolist(),
            self.size.tolist(),
            self.name_len.tolist(),
            self.data_offset.tolist(),
            self.data_len.tolist(),
        )

    def rows(self) -> list[ChunkRow]:
        """One :class:`ChunkRow` per member (in offset order)."""
        p, k = self.prefix, self.kind
        return [
            ChunkRow(f"{p}{n}!", o, k, "map", i, s, nl, do, dl)
            for n, o, i, s, nl, do, dl in self._columns()
        ]

    def dicts(self) -> list[dict[str, Any]]:
        """``ChunkRow.to_dict()`` of every member, without building the rows."""
        p, k = self.prefix, self.kind
        return [
            {
                "name": f"{p}{n}!",
                "offset": o,
                "kind": k,
                "source": "map",
                "index": i,
                "size": s,
                "name_len": nl,
                "data_offset": do,
                "data_len": dl,
                "problem": None,
            }
            for n, o, i, s, nl, do, dl in self._columns()
        ]


def _row_key(r: ChunkRow) -> tuple[int, int]:
    return (r.offset, r.index if r.index is not None else -1)


@dataclass
class InspectResult:
    """What :func:`inspect_file` found. ``to_dict()`` gives the ``--json`` shape.

    ``chunks`` is the whole chunk table (one :class:`ChunkRow` per map entry plus
    the signature and map rows, by offset). It is built on first use from ``rows``
    (every row that is not a sound member of a numbered series) and ``series``
    (those members, as arrays: :class:`ChunkSeries`), so that a 100 000-frame file
    can be summarised without 100 000 row objects (:func:`folded_rows`).
    """

    path: str | None
    size: int
    format: str  # "modern", "legacy" or "unknown"
    version: tuple[int, int] | None = None
    version_string: str | None = None
    map_offset: int | None = None
    map_entries: int | None = None
    rows: list[ChunkRow] = field(default_factory=list)
    series: list[ChunkSeries] = field(default_factory=list)
    boxes: list[BoxRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    summary: FileSummary | None = None
    _all: list[ChunkRow] | None = field(default=None, repr=False, compare=False)

    @property
    def chunks(self) -> list[ChunkRow]:
        """Every row of the chunk table, by offset (map index for equal offsets)."""
        if not self.series:
            return self.rows
        if self._all is None:
            out = list(self.rows)
            for sr in self.series:
                out.extend(sr.rows())
            out.sort(key=_row_key)
            self._all = out
        return self._all

    @property
    def complete(self) -> bool:
        """True when nothing stopped the reading."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        if self.series:
            keyed = [(_row_key(r), r.to_dict()) for r in self.rows]
            for sr in self.series:
                keyed.extend(zip(zip(sr.offset.tolist(), sr.index.tolist()), sr.dicts()))
            keyed.sort(key=lambda kd: kd[0])
            chunks = [d for _, d in keyed]
        else:
            chunks = [c.to_dict() for c in self.rows]
        return {
            "path": self.path,
            "size": self.size,
            "format": self.format,
            "version": list(self.version) if self.version else None,
            "version_string": self.version_string,
            "map_offset": self.map_offset,
            "map_entries": self.map_entries,
            "chunks": chunks,
            "boxes": [b.to_dict() for b in self.boxes],
            "problems": [p.to_dict() for p in self.problems],
            "complete": self.complete,
            "summary": None if self.summary is None else self.summary.to_dict(),
        }


@dataclass
class ChunkDetail:
    """One chunk in detail (``inspect --chunk``).

    ``records``: for LiteVariant/XML payloads, one dict per record with keys
    ``depth``, ``path``, ``name``, ``type``, ``type_code``, ``value``, ``offset``
    (absolute file offset of the record's first byte: the LiteVariant type byte, or
    the ``<`` of an XML start tag; None inside a compressed block) and
    ``inflated_offset`` (offset in the inflated stream of a compressed block, else
    None). ``hexdump``: rows ``{"offset", "hex", "ascii"}`` for other payloads (at
    most ``max_bytes`` bytes, ``truncated`` says whether more followed). ``info``:
    kind-specific facts (frame timestamp, version string, mask size...).
    """

    name: str
    kind: str
    offset: int
    name_len: int | None = None
    data_offset: int | None = None
    data_len: int | None = None
    records: list[dict[str, Any]] | None = None
    hexdump: list[dict[str, Any]] | None = None
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "offset": self.offset,
            "name_len": self.name_len,
            "data_offset": self.data_offset,
            "data_len": self.data_len,
            "info": self.info,
            "records": self.records,
            "hexdump": self.hexdump,
            "truncated": self.truncated,
            "problems": [p.to_dict() for p in self.problems],
            "complete": not self.problems,
        }

# ----------------------------------------------------------------------------- file


def inspect_file(src: Any, *, summary: bool = True) -> InspectResult:
    """Table of contents of an ND2 file (path or bytes).

    Parameters
    ----------
    src : str, os.PathLike or bytes-like
        The file.
    summary : bool
        Also read the :class:`~nd2kit.check.summary.FileSummary` (sizes, dtype,
        channels, loops...) through nd2kit's reader (``InspectResult.summary``).

    Never raises for bad bytes; raises OSError when a path cannot be opened.
    """
    with open_source(src) as s:
        res = _inspect_buf(s.buf, s.path)
    if summary and res.format != "unknown":
        with inflate_once(metadata_inflate_limit(res.size)):  # the summary's parts share the inflated streams
            res.summary = summarize(src)
        if res.summary.format_version is None and res.version is not None:
            res.summary.format_version = f"{res.version[0]}.{res.version[1]}"
    return res


def _inspect_buf(buf: Any, path: str | None) -> InspectResult:
    size = len(buf)
    head = bytes(buf[:4])
    res = InspectResult(path=path, size=size, format="unknown")
    kind = container.file_kind(buf)
    if kind == "legacy":
        res.format = "legacy"
        res.version = (1, 0)
        _inspect_legacy(buf, res)
        return res
    if kind != "modern":
        res.problems.append(
            Problem(
                0,
                f"not an ND2 file: first bytes {head.hex() or '(empty)'} "
                "are neither the chunk magic dacebe0a nor a JPEG 2000 signature",
            )
        )
        return res
    res.format = "modern"
    with gc_paused():  # one small acyclic row per map entry (see report.gc_paused)
        _inspect_modern(buf, res)
    return res


def _signature_row(buf: Any, res: InspectResult) -> None:
    size = len(buf)
    row = ChunkRow(name=SIGNATURE_NAME, offset=0, kind="signature", source="signature")
    res.rows.append(row)
    try:
        res.version = container.read_signature(buf)
    except Nd2Error as e:
        row.problem = e.message
        res.problems.append(
            Problem(0 if e.offset is None else e.offset, f"file signature unreadable: {e.message}",
                    SIGNATURE_NAME)
        )
    try:
        ci = container.read_chunk(buf, 0)
    except Nd2Error:  # damaged: the header fields as far as they can be read
        if container.header_end(0) <= size:
            h = container.read_header(buf, 0, chunk=SIGNATURE_NAME)
            row.name_len, row.data_len, row.data_offset = h.name_len, h.data_len, h.data_offset
        res.version_string = container.version_string(buf)
        return
    row.name_len, row.data_len, row.data_offset = ci.name_len, ci.data_len, ci.data_offset
    res.version_string = container.decode_version_field(buf[ci.data_offset : ci.end])


def _inspect_modern(buf: Any, res: InspectResult) -> None:
    size = len(buf)
    _signature_row(buf, res)
    try:
        map_offset, cmap = container.read_chunk_map(buf)
    except Nd2Error as e:
        msg = e.message
        if e.chunk == "<trailer>":
            at = max(0, container.trailer_offset(size))
            found = bytes(buf[at : at + 16])
            msg = f"no trailer in the last {container.TRAILER_SIZE} bytes (they start {found!r})"
        res.problems.append(Problem(e.offset, f"the chunk map could not be read: {msg}", e.chunk))
        rows, stop = scan_chunks(buf, start=container.SIGNATURE_SIZE)
        res.rows.extend(rows)
        if stop is not None:
            res.problems.append(stop)
        res.problems.append(
            Problem(size, f"listed {len(rows)} chunks found by scanning for chunk headers instead")
        )
        return
    res.map_offset = map_offset
    res.map_entries = len(cmap.names)
    names = cmap.names
    dups = set(cmap.duplicates)
    counts = Counter(names) if dups else {}
    series = _frame_series(buf, cmap, dups)
    # the entries checked one by one: all but the sound frames of the series
    todo = np.arange(len(names))
    if series is not None:
        res.series.append(series)
        slow = np.ones(len(names), bool)
        slow[series.index] = False
        todo = np.flatnonzero(slow)
    offsets = cmap.offsets[todo].tolist()
    sizes = np.asarray(cmap.sizes)[todo].tolist()
    off_field = cmap.field_positions("offset")[todo].tolist()
    for k, (i, off, sz) in enumerate(zip(todo.tolist(), offsets, sizes)):
        name = names[i]
        row = ChunkRow(name=name, offset=off, kind=chunk_kind(name), source="map", index=i, size=sz)
        res.rows.append(row)
        problems = []
        if name in dups:
            problems.append(f"duplicate map entry (name listed {counts[name]} times)")
        if container.header_end(off) > size:
            problems.append(f"offset points outside the file ({size} bytes)")
            res.problems.append(
                Problem(
                    off_field[k],
                    f"map entry {name!r} points outside the file (offset {off})",
                    name,
                )
            )
        else:
            try:
                ci = container.read_chunk(buf, off)
            except Nd2Error as e:
                problems.append(e.message)
                res.problems.append(
                    Problem(off if e.offset is None else e.offset, f"chunk {name!r}: {e.message}", name)
                )
                if bytes(buf[off : off + len(CHUNK_MAGIC)]) == CHUNK_MAGIC:
                    h = container.read_header(buf, off, chunk=name)
                    row.name_len, row.data_len, row.data_offset = h.name_len, h.data_len, h.data_offset
            else:
                row.name_len, row.data_len, row.data_offset = (
                    ci.name_len,
                    ci.data_len,
                    ci.data_offset,
                )
                head = bytes(buf[ci.data_offset : min(ci.data_offset + KIND_HEAD, ci.end)])
                row.kind = chunk_kind(name, head, ci.data_len)
                if ci.name != name:
                    problems.append(f"chunk header names it {ci.name!r}")
                if sz >= 0 and sz != ci.data_len:
                    problems.append(f"map size {sz} != header data_len {ci.data_len}")
        row.problem = "; ".join(problems) or None
    mrow = ChunkRow(name=FILEMAP_NAME, offset=map_offset, kind="map", source="trailer")
    try:
        ci = container.read_chunk(buf, map_offset)
        mrow.name_len, mrow.data_len, mrow.data_offset = ci.name_len, ci.data_len, ci.data_offset
    except Nd2Error as e:  # pragma: no cover - read_chunk_map already read it
        mrow.problem = e.message
    res.rows.append(mrow)
    res.rows.sort(key=_row_key)


def _ndigits(n: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative ints (1 for 0)."""
    return np.searchsorted(10 ** np.arange(1, 19, dtype=np.int64), n, side="right") + 1


def _frame_series(buf: Any, cmap: Any, dups: set[str]) -> ChunkSeries | None:
    """The ``ImageDataSeq|N!`` map entries whose chunk is sound, checked as arrays.

    A member is sound when its name is written without leading zeros and listed
    once, its header lies in the file with the chunk magic, its header names it,
    its payload fits the file and the map size (when known) equals data_len. Every
    other entry is left to the per-entry checks of :func:`_inspect_modern`.
    """
    prefix = names.FRAME_PREFIX
    numbers, rows = cmap.frames()
    if len(rows) == 0:
        return None
    sizes = np.asarray(cmap.sizes)[rows]
    if sizes.dtype == object:  # sizes >= 2**63: leave them to the per-entry checks
        return None
    offs = cmap.offsets[rows].astype(np.int64)
    sizes = sizes.astype(np.int64)
    all_names = cmap.names
    sel = [all_names[i] for i in rows.tolist()]
    nlen = np.fromiter(map(len, sel), np.int64, len(sel))
    ok = nlen == len(prefix) + _ndigits(numbers) + 1  # no leading zeros
    if dups:
        ok &= np.fromiter((n not in dups for n in sel), bool, len(sel))
    data_off, data_len = container.locate_payloads(buf, offs)
    ok &= data_off >= 0
    ok &= (sizes < 0) | (sizes == data_len)
    name_len, named = container.header_names_match(buf, offs, sel)
    ok &= named
    keep = np.flatnonzero(ok)
    if len(keep) == 0:
        return None
    order = keep[np.lexsort((rows[keep], offs[keep]))]
    return ChunkSeries(
        prefix=prefix,
        kind="frame",
        index=rows[order].astype(np.int64),
        number=numbers[order].astype(np.int64),
        offset=offs[order],
        size=sizes[order],
        name_len=name_len[order],
        data_offset=data_off[order],
        data_len=data_len[order],
    )


# ----------------------------------------------------------------------------- legacy


def _inspect_legacy(buf: Any, res: InspectResult) -> None:
    size = len(buf)
    tags: dict[int, str] = {}
    end = size
    try:
        lf = jp2.read_legacy(buf)
    except Nd2Error as e:
        res.problems.append(Problem(e.offset, f"legacy container not fully readable: {e.message}"))
        try:
            end, entries = legacy_map(buf)
            res.map_offset = end
            res.map_entries = len(entries)
            tags = {o: t for _, t, o in entries}
        except Nd2Error as e2:
            res.problems.append(Problem(e2.offset, f"the box map could not be read: {e2.message}"))
        walked, stop = legacy_boxes(buf, end)
        for t, o, n in walked:
            res.boxes.append(BoxRow(t, tags.get(o), o, n))
        if stop is not None:
            res.problems.append(stop)
        return
    res.map_offset = lf.map_offset
    res.map_entries = len(lf.entries)
    lengths = {o: n for _, o, n in legacy_boxes(buf, lf.map_offset)[0]}
    for b in lf.boxes:
        if b.offset is None:  # pragma: no cover - read_legacy locates every box it lists
            continue
        res.boxes.append(BoxRow(b.box_type, b.tag, b.offset, lengths.get(b.offset)))
    for t, g, o in lf.entries:
        if o not in lengths:
            res.boxes.append(
                BoxRow(t, g, o, None, problem="map entry does not point at a top-level box")
            )


# ----------------------------------------------------------------------------- chunk detail


def hexdump(
    buf: Any, start: int, end: int, max_bytes: int | None = 256
) -> tuple[list[dict[str, Any]], bool]:
    """Rows of 16 bytes ``{"offset", "hex", "ascii"}`` for ``buf[start:end]``."""
    stop = end if max_bytes is None else min(end, start + max(0, max_bytes))
    data = bytes(buf[start:stop])
    rows = []
    for i in range(0, len(data), 16):
        part = data[i : i + 16]
        rows.append(
            {
                "offset": start + i,
                "hex": " ".join(f"{b:02x}" for b in part),
                "ascii": "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in part),
            }
        )
    return rows, stop < end


def _json_value(rec: Any) -> Any:
    v = rec.value
    t = rec.type
    if t == lv.LvType.LEVEL or t == lv.LvType.COMPRESS:
        return None
    if t == lv.LvType.BOOL:
        return bool(v)  # as nd2 decodes it; `text` keeps the stored byte
    if isinstance(v, bytes):
        return v[:256].hex()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def lv_records(payload: bytes, base: int) -> tuple[list[dict[str, Any]], Problem | None]:
    """Records of a LiteVariant payload via the lossless decoder (file offsets)."""
    try:
        tree = lv.decode_lossless(payload, base=base)
    except Nd2Error as e:
        return _lv_records_partial(payload, base, e)
    out = []
    inside: list[int] = []  # depths of enclosing COMPRESS records
    rec: Any  # an LvRecord (the generated class is not visible to the type checker)
    for depth, path, rec in iter_tree(tree.root):
        while inside and depth <= inside[-1]:
            inside.pop()
        packed = bool(inside)
        d = {
            "depth": depth,
            "path": path,
            "name": rec.name,
            "type": LV_TYPE_NAMES.get(rec.type, str(rec.type)),
            "type_code": rec.type,
            "value": _json_value(rec),
            "text": lv.scalar_repr(rec),
            "offset": None if packed or rec.pos is None else base + rec.pos,
            "inflated_offset": rec.pos if packed else None,
        }
        if rec.type == lv.LvType.LEVEL:
            d["items"] = len(rec.value)
        out.append(d)
        if rec.type == lv.LvType.COMPRESS:
            inside.append(depth)
    if tree.trailing:
        return out, Problem(
            base + len(payload) - len(tree.trailing),
            f"{len(tree.trailing)} bytes after the root record",
        )
    return out, None


#: how deep :func:`lv_records` lists the records of a payload the lossless decoder
#: rejects (the structural walk that lists them costs more than linear time in the
#: depth); deeper LEVELs are one problem ("nesting deeper than ...")
PARTIAL_MAX_DEPTH = 2000


def _lv_records_partial(
    payload: bytes, base: int, err: Nd2Error
) -> tuple[list[dict[str, Any]], Problem]:
    """Records the LiteVariant checker could read before the damage (to
    :data:`PARTIAL_MAX_DEPTH` levels deep)."""
    findings, visited = lv.walk(payload, base=base, max_depth=PARTIAL_MAX_DEPTH)
    out = []
    for pos, depth, path, name, code, text in visited:
        out.append(
            {
                "depth": depth,
                "path": path,
                "name": name,
                "type": LV_TYPE_NAMES.get(code, str(code)),
                "type_code": code,
                "value": None,
                "text": text,
                "offset": base + pos,
                "inflated_offset": None,
            }
        )
    first = next((f for f in findings if f.severity == "error"), None)
    if first is not None:
        msg = f"decoding stopped: {first.message} ({K_LV}:{first.field})"
        return out, Problem(first.offset, msg)
    return out, Problem(base if err.offset is None else err.offset, f"decoding stopped: {err.message}")


def xml_records(payload: bytes, base: int) -> tuple[list[dict[str, Any]], Problem | None]:
    """Elements of an XML-variant payload with file offsets (needs codecs.xml_variant)."""
    try:
        from ..codecs import xml_variant
    except ImportError as e:  # pragma: no cover - the module is part of the package
        return [], Problem(base, f"XML decoder not available ({e})")
    try:
        recs = list(xml_variant.iter_xml_records(payload))
    except Nd2Error as e:
        return [], Problem(base + (e.offset or 0), f"XML cannot be parsed: {e.message}")
    out = []
    stack: list[str] = []
    for depth, name, runtype, value, off in recs:
        del stack[depth:]
        stack.append(name)
        out.append(
            {
                "depth": depth,
                "path": "/".join(stack),
                "name": name,
                "type": runtype,
                "type_code": None,
                "value": value,
                "text": "" if value is None else value,
                "offset": base + off,
                "inflated_offset": None,
            }
        )
    return out, None


def _find_row(res: InspectResult, name: str) -> ChunkRow | None:
    rows = [r for r in res.chunks if r.name == name]
    if not rows:
        return None
    # the map's choice for duplicates is its last entry (as nd2)
    mapped = [r for r in rows if r.source == "map"]
    if mapped:
        return max(mapped, key=lambda r: r.index or 0)
    return rows[0]


def inspect_chunk(src: Any, name: str, *, max_bytes: int | None = 256) -> ChunkDetail | None:
    """Decode one chunk (modern files) or box (legacy files: ``TAG`` or ``TAG#k``,
    e.g. ``VIMD#1``; box types such as ``jp2h`` work too). Returns None when there
    is no such chunk."""
    with open_source(src) as s, inflate_once(metadata_inflate_limit(len(s.buf))):
        res = _inspect_buf(s.buf, s.path)
        if res.format == "legacy":
            return _legacy_detail(s.buf, res, name, max_bytes)
        if res.format != "modern":
            return None
        row = _find_row(res, name)
        if row is None:
            return None
        return _chunk_detail(s.buf, row, max_bytes)


def _chunk_detail(buf: Any, row: ChunkRow, max_bytes: int | None) -> ChunkDetail:
    size = len(buf)
    det = ChunkDetail(
        name=row.name,
        kind=row.kind,
        offset=row.offset,
        name_len=row.name_len,
        data_offset=row.data_offset,
        data_len=row.data_len,
    )
    if row.data_offset is None or row.data_len is None:
        det.problems.append(Problem(row.offset, row.problem or "chunk header unreadable", row.name))
        det.hexdump, det.truncated = hexdump(
            buf, row.offset, min(size, container.header_end(row.offset)), max_bytes
        )
        return det
    start, stop = row.data_offset, row.end
    assert stop is not None
    end = min(size, stop)
    if row.problem:
        det.problems.append(Problem(row.offset, row.problem, row.name))
    if stop > size:
        det.problems.append(Problem(size, "payload cut short by the end of the file", row.name))
    kind = row.kind
    if kind == "lite-variant":
        det.records, prob = lv_records(bytes(buf[start:end]), start)
        if prob is not None:
            prob.chunk = row.name
            det.problems.append(prob)
        return det
    if kind == "xml":
        det.records, prob = xml_records(bytes(buf[start:end]), start)
        if prob is not None:
            prob.chunk = row.name
            det.problems.append(prob)
            det.hexdump, det.truncated = hexdump(buf, start, end, max_bytes)
        return det
    if kind == "signature":
        det.info["version_string"] = container.decode_version_field(buf[start:end])
    elif kind == "frame":
        det.info["index"] = names.parse_frame_index(row.name)
        pixels_at = container.frame_pixels_offset(start)
        if pixels_at <= end:
            # the payload prefix as the spec declares it (timestamp, then pixels/zlib)
            det.info["timestamp"] = _finite(
                container.frame_timestamp(buf[start:pixels_at], chunk=row.name, offset=start))
            det.info["pixels_offset"] = pixels_at
    elif kind == "rle-mask":
        from ..codecs import rle

        try:
            mask = rle.decode_rle_mask(bytes(buf[start:end]), chunk=row.name, base=start)
        except Nd2Error as e:
            det.problems.append(
                Problem(start if e.offset is None else e.offset, f"mask cannot be decoded: {e.message}",
                        row.name)
            )
        else:
            if mask is None:
                det.info["mask"] = None
            else:
                ids = sorted(int(x) for x in set(mask.ravel().tolist()) - {0})
                det.info["mask"] = {
                    "height": mask.shape[0],
                    "width": mask.shape[1],
                    "object_ids": ids,
                }
    elif kind == "map":
        det.info["entries"] = _map_entries(buf, start, end)
    det.hexdump, det.truncated = hexdump(buf, start, end, max_bytes)
    return det


def _finite(x: float) -> Any:
    return x if math.isfinite(x) else str(x)


def _map_entries(buf: Any, start: int, end: int) -> list[dict[str, Any]]:
    from ..codecs.chunk_map import parse_chunk_map

    try:
        cm = parse_chunk_map(bytes(buf[start:end]), base=start)
    except Nd2Error:
        return []
    pos = cm.entry_positions().tolist()
    return [
        {"name": n, "entry_offset": p, "offset": o, "size": s}
        for n, p, o, s in zip(cm.names, pos, cm.offsets.tolist(), cm.sizes.tolist())
    ]


def _legacy_detail(
    buf: Any, res: InspectResult, name: str, max_bytes: int | None
) -> ChunkDetail | None:
    key, _, idx = name.partition("#")
    try:
        k = int(idx) if idx else 0
    except ValueError:
        return None
    hits = [b for b in res.boxes if b.tag == key] or [b for b in res.boxes if b.box_type == key]
    if k >= len(hits) or k < 0:
        return None
    box = hits[k]
    size = len(buf)
    end = size if box.length is None else min(size, box.offset + box.length)
    try:
        start = jp2.box_payload_offset(buf, box.offset, end)
    except Nd2Error as e:
        det = ChunkDetail(name=name, kind="binary", offset=box.offset)
        det.info = {"box_type": box.box_type, "tag": box.tag, "length": box.length}
        det.problems.append(
            Problem(box.offset if e.offset is None else e.offset,
                    f"box header unreadable: {e.message}", name)
        )
        det.hexdump, det.truncated = hexdump(buf, box.offset, end, max_bytes)
        return det
    if box.length is None:
        end = start
    det = ChunkDetail(
        name=name,
        kind="xml" if box.box_type == "xml " else "binary",
        offset=box.offset,
        data_offset=start,
        data_len=end - start,
    )
    det.info = {"box_type": box.box_type, "tag": box.tag, "length": box.length}
    if det.kind == "xml":
        det.records, prob = xml_records(bytes(buf[start:end]), start)
        if prob is None:
            return det
        det.problems.append(prob)
    det.hexdump, det.truncated = hexdump(buf, start, end, max_bytes)
    return det


@dataclass
class ChunkRun:
    """Consecutive members ``prefix|first!`` … ``prefix|last!`` of a numbered chunk series,
    shown as one row of the chunk table.

    ``first_offset``/``last_offset`` are the lowest and highest chunk offsets;
    ``data_len`` the most common payload size (``min_data_len``/``max_data_len`` the
    range). Members with a problem are never folded into a run.
    """

    prefix: str
    kind: str
    first: int
    last: int
    first_offset: int
    last_offset: int
    data_len: int | None
    min_data_len: int | None
    max_data_len: int | None

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    @property
    def name(self) -> str:
        return f"{self.prefix}{self.first}..{self.last}!"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["count"] = self.count
        d["name"] = self.name
        return d


class _Run:
    __slots__ = ("rows", "last")

    def __init__(self, row: ChunkRow, index: int) -> None:
        self.rows = [row]
        self.last = index


def _fold(prefix: str, rows: list[ChunkRow], first: int, last: int) -> ChunkRun:
    lens = [r.data_len for r in rows if r.data_len is not None]
    offs = [r.offset for r in rows]
    common = Counter(lens).most_common(1)[0][0] if lens else None
    return ChunkRun(
        prefix=prefix,
        kind=rows[0].kind,
        first=first,
        last=last,
        first_offset=min(offs),
        last_offset=max(offs),
        data_len=common,
        min_data_len=min(lens) if lens else None,
        max_data_len=max(lens) if lens else None,
    )


def chunk_runs(rows: list[ChunkRow]) -> list[ChunkRow | ChunkRun]:
    """The chunk table with numbered series folded into runs (linear time).

    Members of a series (same prefix and kind) whose numbers follow each other
    (N, N+1, …) form one :class:`ChunkRun`, placed where its first member is; the
    series may be interleaved with other chunks. A run of one is left as its row;
    rows with a problem are never folded.
    """
    slots: list[ChunkRow | _Run] = []
    open_runs: dict[tuple[str, str], _Run] = {}
    for r in rows:
        # a numbered chunk ``prefix|N!`` (names.split_sequence)
        m = names.split_sequence(r.name) if r.problem is None else None
        if m is None:
            slots.append(r)
            continue
        key, n = (m[0], r.kind), m[1]
        run = open_runs.get(key)
        if run is not None and n == run.last + 1:
            run.rows.append(r)
            run.last = n
            continue
        run = open_runs[key] = _Run(r, n)
        slots.append(run)
    out: list[ChunkRow | ChunkRun] = []
    for slot in slots:
        if isinstance(slot, ChunkRow):
            out.append(slot)
        elif len(slot.rows) == 1:
            out.append(slot.rows[0])
        else:
            sp = names.split_sequence(slot.rows[0].name)
            assert sp is not None  # only numbered rows open a run
            out.append(_fold(sp[0], slot.rows, slot.last - len(slot.rows) + 1, slot.last))
    return out


def iter_rows(res: InspectResult) -> Iterator[ChunkRow]:
    """Map rows in map order (what a reader's chunk map holds)."""
    yield from sorted((r for r in res.chunks if r.source == "map"), key=lambda r: r.index or 0)


def _most_common(lens: np.ndarray) -> int:
    """The most common value; among equally common ones the first to occur (as Counter)."""
    vals, first, cnt = np.unique(lens, return_index=True, return_counts=True)
    top = np.flatnonzero(cnt == cnt.max())
    return int(vals[top[np.argmin(first[top])]])


def _series_runs(sr: ChunkSeries) -> list[tuple[tuple[int, int], ChunkRow | ChunkRun]]:
    """:func:`chunk_runs` of one series' members, on the arrays (keyed for merging)."""
    n = len(sr)
    if n == 0:
        return []
    cut = np.flatnonzero(np.diff(sr.number) != 1) + 1
    starts = np.concatenate(([0], cut)).astype(np.int64)
    ends = np.concatenate((cut, [n])).astype(np.int64)
    lo = np.minimum.reduceat(sr.data_len, starts)
    hi = np.maximum.reduceat(sr.data_len, starts)
    lo_off = np.minimum.reduceat(sr.offset, starts)
    hi_off = np.maximum.reduceat(sr.offset, starts)
    out: list[tuple[tuple[int, int], ChunkRow | ChunkRun]] = []
    single = ends - starts == 1
    for k in np.flatnonzero(single).tolist():
        s = int(starts[k])
        one = ChunkSeries(sr.prefix, sr.kind, *(a[s : s + 1] for a in (
            sr.index, sr.number, sr.offset, sr.size, sr.name_len, sr.data_offset, sr.data_len)))
        row = one.rows()[0]
        out.append((_row_key(row), row))
    for k in np.flatnonzero(~single).tolist():
        s, e = int(starts[k]), int(ends[k])
        mn, mx = int(lo[k]), int(hi[k])
        run = ChunkRun(
            prefix=sr.prefix,
            kind=sr.kind,
            first=int(sr.number[s]),
            last=int(sr.number[e - 1]),
            first_offset=int(lo_off[k]),
            last_offset=int(hi_off[k]),
            data_len=mn if mn == mx else _most_common(sr.data_len[s:e]),
            min_data_len=mn,
            max_data_len=mx,
        )
        out.append(((int(sr.offset[s]), int(sr.index[s])), run))
    return out


def _joins_series(row: ChunkRow, series: list[ChunkSeries]) -> bool:
    """True when `row` could be folded with the members of one of `series`."""
    if row.problem is not None:
        return False
    sp = names.split_sequence(row.name)
    return sp is not None and any(sp[0] == sr.prefix and row.kind == sr.kind for sr in series)


def folded_rows(res: InspectResult) -> list[ChunkRow | ChunkRun]:
    """``chunk_runs(res.chunks)`` without building a row per series member.

    The runs of the numbered series are folded on their arrays
    (:class:`ChunkSeries`); the other rows (and series members with a problem) go
    through :func:`chunk_runs`. Each run sits where its first member is.
    """
    if not res.series:
        return chunk_runs(res.rows)
    if any(_joins_series(r, res.series) for r in res.rows):
        return chunk_runs(res.chunks)  # a sound member outside the arrays (rare): fold rows
    keyed: list[tuple[tuple[int, int], ChunkRow | ChunkRun]] = []
    for item in chunk_runs(res.rows):
        if isinstance(item, ChunkRun):  # a run of rows: placed at its first member
            keyed.append(((item.first_offset, -1), item))
        else:
            keyed.append((_row_key(item), item))
    for sr in res.series:
        keyed.extend(_series_runs(sr))
    keyed.sort(key=lambda kv: kv[0])
    return [item for _, item in keyed]
