"""Mutators: raw byte mutations and structure-aware ones built on nd2kit's codecs.

Every mutator is ``fn(info, rng) -> list[Edit]`` (an empty list when it does not apply
to the seed) and is deterministic given the ``random.Random`` it gets. Structure-aware
mutators find their targets through :mod:`nd2kit.codecs` (chunk map, chunk headers,
LiteVariant lossless trees, XML-variant payloads, frame payloads, JP2 boxes) and take
field widths and byte orders from the generated layouts, never from hand-counted
offsets. A payload that grows past its chunk's room is moved in front of the chunk map
(the map entry and the trailer are edited to follow it), so the rest of the file stays
where the seed had it.
"""

from __future__ import annotations

import random
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, Literal

import numpy as np
from nd2kit._generated.fast import legacy_jp2 as _gjp2
from nd2kit._generated.fast import lite_variant as _glv
from nd2kit._generated.fast import nd2_container as _gc

from nd2kit.codecs import container, frame, lite_variant
from nd2kit.codecs.chunk_map import build_chunk_map_body
from nd2kit.codecs.lite_variant import LvChunk, LvRecord, LvType

from .recipe import Edit, Recipe
from .seeds import ChunkSlot, SeedInfo

__all__ = ["MUTATORS", "RAW", "STRUCTURED", "mutate", "zlib_bomb"]

Mutator = Callable[[SeedInfo, random.Random], list[Edit]]

# ------------------------------------------------------------------ field layouts (generated)


def _field(dtype: np.dtype, name: str) -> tuple[int, np.dtype]:
    fields = dtype.fields
    assert fields is not None
    dt, off = fields[name][0], fields[name][1]
    return int(off), np.dtype(dt)


_HDR = _gc.ChunkHeader.DTYPE
_ENTRY = _gc._TB_DTYPE
_TRAILER = _gc.MapTrailer.DTYPE
_BOX_LEN = _field(_gjp2.SignatureBox.DTYPE, "len")[1]
_BOX_TRAILER = _gjp2.BoxMapTrailer.DTYPE
_LV_LEVEL_HEAD = _glv._TR_LEVEL_HEAD  # struct: item_count, length
_LV_BYTES_LEN = _glv._TR_BYTES_LEN
_LV_NAME_UNIT = _glv._TR_NAME_UNIT


def _pack(dt: np.dtype, value: int) -> bytes:
    """`value` (wrapped to the field's width) in the byte order of `dt`."""
    n = dt.itemsize
    order: Literal["little", "big"] = "big" if dt.byteorder == ">" else "little"
    return (int(value) % (1 << (8 * n))).to_bytes(n, order)


def _put(pos: int, dt: np.dtype, value: int, what: str) -> Edit:
    return Edit(pos, dt.itemsize, _pack(dt, value), f"{what} = {value}")


def _interesting(width: int, orig: int | None, file_size: int, rng: random.Random) -> int:
    top = 1 << (8 * width)
    pool = [0, 1, top - 1, top >> 1, (top >> 1) - 1, file_size, file_size + 1, 2**31, 2**32,
            2**32 - 1, 2**63, rng.randrange(top)]
    if orig is not None:
        pool += [orig + 1, orig - 1, orig * 2, orig * 16 + 7, orig >> 1]
    return rng.choice(pool) % top


@cache
def zlib_bomb(inflated: int = 256 << 20) -> bytes:
    """A zlib stream of `inflated` zero bytes (about 1/1000 of that size; built once)."""
    c = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [c.compress(chunk) for _ in range(inflated >> 20)]
    parts.append(c.flush())
    return b"".join(parts)


# ------------------------------------------------------------------ raw mutators


def _rand_pos(info: SeedInfo, rng: random.Random) -> int:
    n = len(info.seed.data)
    # half of the time near a chunk boundary, where the headers and fields are
    if info.chunks and rng.random() < 0.5:
        c = rng.choice(info.chunks)
        return min(n - 1, max(0, c.offset + rng.randrange(-8, 64)))
    return rng.randrange(n)


def raw_bitflip(info: SeedInfo, rng: random.Random) -> list[Edit]:
    data = info.seed.data
    out = []
    for _ in range(rng.randint(1, 8)):
        p = _rand_pos(info, rng)
        out.append(Edit(p, 1, bytes([data[p] ^ (1 << rng.randrange(8))]), f"flip bit @{p}"))
    return out


def raw_byteset(info: SeedInfo, rng: random.Random) -> list[Edit]:
    out = []
    for _ in range(rng.randint(1, 4)):
        p = _rand_pos(info, rng)
        v = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        out.append(Edit(p, 1, bytes([v]), f"byte @{p} = {v:#x}"))
    return out


def raw_int(info: SeedInfo, rng: random.Random) -> list[Edit]:
    data = info.seed.data
    w = rng.choice([1, 2, 4, 4, 8, 8])
    p = min(_rand_pos(info, rng), max(0, len(data) - w))
    order: Literal["little", "big"] = "little" if rng.random() < 0.85 else "big"
    orig = int.from_bytes(data[p : p + w], order)
    v = _interesting(w, orig, len(data), rng)
    return [Edit(p, w, v.to_bytes(w, order), f"u{8 * w}{order[0]}e @{p} = {v}")]


def raw_truncate(info: SeedInfo, rng: random.Random) -> list[Edit]:
    n = len(info.seed.data)
    cut = rng.choice([rng.randrange(n), n - rng.randrange(1, min(n, 64) + 1),
                      rng.randrange(min(n, 8192)), n - rng.randrange(1, min(n, 8192) + 1)])
    return [Edit(cut, n - cut, b"", f"truncate to {cut}")]


def raw_insert(info: SeedInfo, rng: random.Random) -> list[Edit]:
    p = _rand_pos(info, rng)
    k = rng.choice([1, 2, 3, 4, 7, 8, 16, 100, 4096])
    fill = rng.choice([b"\0", b"\xff", None])
    blob = fill * k if fill is not None else rng.randbytes(k)
    return [Edit(p, 0, blob, f"insert {k} bytes @{p}")]


def raw_delete(info: SeedInfo, rng: random.Random) -> list[Edit]:
    p = _rand_pos(info, rng)
    k = rng.choice([1, 2, 4, 8, 16, 100, 4096])
    return [Edit(p, k, b"", f"delete {k} bytes @{p}")]


def raw_copy(info: SeedInfo, rng: random.Random) -> list[Edit]:
    data = info.seed.data
    src, dst = rng.randrange(len(data)), _rand_pos(info, rng)
    k = rng.choice([4, 16, 64, 512, 4096])
    return [Edit(dst, k if rng.random() < 0.5 else 0, data[src : src + k],
                 f"copy {k} bytes {src}->{dst}")]


def raw_zlib_bomb(info: SeedInfo, rng: random.Random) -> list[Edit]:
    """A zlib bomb written over the first zlib stream found (any 78 xx header)."""
    data = info.seed.data
    hits = [m.start() for m in re.finditer(rb"\x78[\x01\x5e\x9c\xda]", data)]
    if not hits:
        return []
    p = rng.choice(hits)
    bomb = zlib_bomb()
    return [Edit(p, min(len(bomb), len(data) - p), bomb, f"zlib bomb @{p}")]


# ------------------------------------------------------------------ container and chunk map


def _hdr_field(slot_offset: int, name: str) -> tuple[int, np.dtype]:
    off, dt = _field(_HDR, name)
    return container.header_field_position(slot_offset, name), dt


def _replace_payload(info: SeedInfo, slot: ChunkSlot, new: bytes, what: str) -> list[Edit]:
    """Edits that make `new` the payload of `slot` (in place, or moved before the map)."""
    pos, dt = _hdr_field(slot.offset, "data_len")
    if len(new) <= slot.room:
        body = new if len(new) >= slot.data_len else new + bytes(slot.data_len - len(new))
        return [Edit(slot.data_offset, len(body), body, f"{what} (in place)"),
                _put(pos, dt, len(new), f"{slot.name} data_len")]
    if info.map_offset is None or slot.row < 0:
        return []
    blob = container.encode_chunk(slot.name, new)
    n = len(info.seed.data)
    tpos = container.trailer_offset(n, "map_offset")
    tdt = _field(_TRAILER, "map_offset")[1]
    odt, sdt = _field(_ENTRY, "offset")[1], _field(_ENTRY, "size")[1]
    return [Edit(info.map_offset, 0, blob, f"{what} (moved before the map)"),
            _put(info.entry_offset_pos[slot.row], odt, info.map_offset, f"{slot.name} map offset"),
            _put(info.entry_size_pos[slot.row], sdt, len(new), f"{slot.name} map size"),
            _put(tpos, tdt, info.map_offset + len(blob), "trailer map_offset")]


def _payload(info: SeedInfo, slot: ChunkSlot) -> bytes:
    return info.seed.data[slot.data_offset : slot.data_offset + slot.data_len]


def _pick(info: SeedInfo, kind: str, rng: random.Random) -> tuple[ChunkSlot, bytes] | None:
    """A random chunk of `kind` and its payload (None when the seed has none)."""
    slots = info.of_kind(kind)
    if not slots:
        return None
    s = rng.choice(slots)
    return s, _payload(info, s)


def chunk_header(info: SeedInfo, rng: random.Random) -> list[Edit]:
    slots = info.chunks + ([info.map_slot] if info.map_slot else [])
    if not slots:
        return []
    s = rng.choice(slots)
    name = rng.choice(["magic", "name_len", "data_len", "data_len"])
    pos, dt = _hdr_field(s.offset, name)
    orig = {"magic": None, "name_len": s.name_len, "data_len": s.data_len}[name]
    v = _interesting(dt.itemsize, orig, len(info.seed.data), rng)
    if name == "data_len" and rng.random() < 0.4:
        v = s.data_len + rng.choice([-1, 1, -8, s.room - s.data_len + 1])
    return [_put(pos, dt, v, f"{s.name} {name}")]


def chunk_name(info: SeedInfo, rng: random.Random) -> list[Edit]:
    if not info.chunks:
        return []
    s = rng.choice(info.chunks)
    at = container.header_field_position(s.offset, "name")
    nb = s.name.encode("latin-1")
    k = rng.randrange(len(nb))
    new = rng.choice([b"\0", b"!", b"\xff", b"x"])
    if rng.random() < 0.3:  # a name without its "!" (the whole name field)
        return [Edit(at, s.name_len, b"A" * s.name_len, f"{s.name}: name field without '!'")]
    return [Edit(at + k, 1, new, f"{s.name}: name byte {k} = {new!r}")]


def map_entry(info: SeedInfo, rng: random.Random) -> list[Edit]:
    if not info.map_names:
        return []
    row = rng.randrange(len(info.map_names))
    name = info.map_names[row]
    n = len(info.seed.data)
    others = info.map_offsets
    if rng.random() < 0.6:
        odt = _field(_ENTRY, "offset")[1]
        o = info.map_offsets[row]
        v = rng.choice([n, n + 4096, 2**64 - 1, 2**63, 0, o + 1, o + 16, o - 16,
                        rng.choice(others), rng.choice(others) + rng.choice([8, 16, 24]),
                        info.map_offset or 0])
        return [_put(info.entry_offset_pos[row], odt, v, f"map[{name}].offset")]
    sdt = _field(_ENTRY, "size")[1]
    s = info.map_sizes[row]
    v = rng.choice([0, 1, 2**64 - 1, 2**63, s + 1, s * 1000, info.map_offsets[row], n])
    return [_put(info.entry_size_pos[row], sdt, v, f"map[{name}].size")]


def map_rebuild(info: SeedInfo, rng: random.Random) -> list[Edit]:
    """A new map body: duplicated, dropped, renamed, overlapping or very many entries."""
    if info.map_slot is None or not info.map_names:
        return []
    names_, offs, sizes = list(info.map_names), list(info.map_offsets), list(info.map_sizes)
    k = rng.randrange(len(names_))
    op = rng.choice(["dup", "drop", "swap", "many", "empty", "overlap", "drop_kind"])
    if op == "dup":  # the same name twice, the copy pointing elsewhere
        names_.insert(rng.randrange(len(names_) + 1), names_[k])
        offs.insert(0, rng.choice(offs) + rng.choice([0, 16, 4096]))
        sizes.insert(0, sizes[k])
        names_, offs, sizes = names_[: len(offs)], offs[: len(names_)], sizes[: len(names_)]
    elif op == "drop":
        del names_[k], offs[k], sizes[k]
    elif op == "drop_kind":  # every chunk of one kind (all frames, all LV chunks, ...)
        kind = rng.choice(["frame", "lv", "xml", "other"])
        drop = {c.row for c in info.of_kind(kind)}
        keep = [i for i in range(len(names_)) if i not in drop]
        names_, offs, sizes = [names_[i] for i in keep], [offs[i] for i in keep], [sizes[i] for i in keep]
    elif op == "swap" and len(names_) > 1:
        j = rng.randrange(len(names_))
        offs[k], offs[j] = offs[j], offs[k]
        sizes[k], sizes[j] = sizes[j], sizes[k]
    elif op == "many":  # very many frame entries pointing at one chunk
        count = rng.choice([1000, 20000])
        names_ += [f"ImageDataSeq|{i}!" for i in range(len(names_), len(names_) + count)]
        offs += [offs[k]] * count
        sizes += [sizes[k]] * count
    elif op == "empty":
        names_, offs, sizes = [], [], []
    elif op == "overlap":  # two chunks sharing bytes
        j = rng.randrange(len(names_))
        offs[k] = offs[j] + rng.choice([0, 8, 16])
    try:
        body = build_chunk_map_body(names_, offs, sizes, info.map_end_value)
    except ValueError:
        return []
    slot = info.map_slot
    room = slot.data_len - container.TRAILER_SIZE
    if len(body) <= room:
        return [Edit(slot.data_offset, room, body + bytes(room - len(body)), f"map: {op}")]
    n = len(info.seed.data)
    trailer = info.seed.data[n - container.TRAILER_SIZE :]
    pos, dt = _hdr_field(slot.offset, "data_len")
    return [Edit(slot.data_offset, n - slot.data_offset, body + trailer, f"map: {op} (grown)"),
            _put(pos, dt, len(body) + len(trailer), "map data_len")]


def trailer(info: SeedInfo, rng: random.Random) -> list[Edit]:
    if info.kind != "modern":
        return []
    n = len(info.seed.data)
    tdt = _field(_TRAILER, "map_offset")[1]
    mo = info.map_offset or 0
    v = rng.choice([0, n, n - 1, 2**64 - 1, 2**63, mo + 1, mo - 4096,
                    rng.choice(info.map_offsets or [0]), n - container.TRAILER_SIZE])
    return [_put(container.trailer_offset(n, "map_offset"), tdt, v, "trailer map_offset")]


def signature(info: SeedInfo, rng: random.Random) -> list[Edit]:
    if info.kind != "modern":
        return []
    v = rng.choice([b"Ver9.9", b"Ver2.", b"Ver1.0", b"VerX.Y", b"", b"Ver3.0\xff", b"V",
                    b"Ver0.0", b"Ver2.1", b"Ver3.1"])
    return [Edit(container.VERSION_OFFSET, 64, v.ljust(64, b"\0"), f"version = {v!r}")]


# ------------------------------------------------------------------ LiteVariant


def _clone(rec: LvRecord) -> LvRecord:
    if rec.type == LvType.LEVEL:
        value: Any = [_clone(c) for c in rec.value]
    elif rec.type == LvType.COMPRESS:
        value = _clone(rec.value)
    else:
        value = rec.value
    return LvRecord(rec.type, rec.name, value, rec.offsets, rec.gap, rec.name_raw, rec.reserved,
                    rec.packed, rec.pos)


def _walk(rec: LvRecord, path: tuple[LvRecord, ...] = ()) -> Iterator[tuple[LvRecord, tuple[LvRecord, ...]]]:
    yield rec, path
    if rec.type == LvType.LEVEL:
        for c in rec.value:
            yield from _walk(c, (*path, rec))
    elif rec.type == LvType.COMPRESS:
        yield from _walk(rec.value, (*path, rec))


_INT_RANGES = {LvType.BOOL: (0, 255), LvType.INT32: (-(2**31), 2**31 - 1),
               LvType.UINT32: (0, 2**32 - 1), LvType.INT64: (-(2**63), 2**63 - 1),
               LvType.UINT64: (0, 2**64 - 1), LvType.VOID_POINTER: (0, 2**64 - 1)}
_ABSURD_INTS = [0, -1, 1, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63), 2**64 - 1, 10**9,
                65536, 3]
_ABSURD_FLOATS = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e308, 5e-324, -1.0, 1e19]


def _absurd_value(t: int, rng: random.Random) -> Any:
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[LvType(t)]
        v = rng.choice(_ABSURD_INTS)
        return min(max(v, lo), hi) if rng.random() < 0.7 else (lo if v < 0 else hi)
    if t == LvType.DOUBLE:
        return rng.choice(_ABSURD_FLOATS)
    if t == LvType.STRING:
        return rng.choice(["", "x" * 20000, "\udcff\ud800", "a\0b", "é" * 3, "%s%n{0}"])
    if t == LvType.BYTE_ARRAY:
        return rng.choice([b"", bytes(100000), rng.randbytes(7), b"\xff" * 9])
    return 0


_SCALARS = [LvType.BOOL, LvType.INT32, LvType.UINT32, LvType.INT64, LvType.UINT64, LvType.DOUBLE,
            LvType.STRING, LvType.BYTE_ARRAY]


def _encode_deep(chunk: LvChunk) -> bytes:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        return lite_variant.encode(chunk)
    finally:
        sys.setrecursionlimit(old)


def _lv_rebuild(info: SeedInfo, rng: random.Random,
                change: Callable[[LvRecord, tuple[LvRecord, ...], random.Random], str | None],
                want: Callable[[LvRecord], bool]) -> list[Edit]:
    slots = [s for s in info.of_kind("lv") if s.lv is not None]
    if not slots:
        return []
    s = rng.choice(slots)
    assert s.lv is not None
    tree = LvChunk(_clone(s.lv.root), s.lv.trailing)
    cands = [(r, p) for r, p in _walk(tree.root) if want(r)]
    if not cands:
        return []
    rec, path = rng.choice(cands)
    what = change(rec, path, rng)
    if what is None:
        return []
    for anc in path:
        if anc.type == LvType.COMPRESS:
            anc.packed = None  # re-compress what was changed
    try:
        new = _encode_deep(tree)
    except (ValueError, OverflowError, TypeError, RecursionError, UnicodeEncodeError):
        return []
    return _replace_payload(info, s, new, f"{s.name}: {what}")


def _is_scalar(r: LvRecord) -> bool:
    return r.type not in (LvType.LEVEL, LvType.COMPRESS)


def lv_value(info: SeedInfo, rng: random.Random) -> list[Edit]:
    def change(rec: LvRecord, path: tuple[LvRecord, ...], rng: random.Random) -> str:
        if rng.random() < 0.4:
            rec.type = int(rng.choice(_SCALARS))
        rec.value = _absurd_value(rec.type, rng)
        return f"{rec.name} = {LvType(rec.type).name} {str(rec.value)[:40]}"
    return _lv_rebuild(info, rng, change, _is_scalar)


def lv_level(info: SeedInfo, rng: random.Random) -> list[Edit]:
    """Deep nesting, very many children, a scalar where a LEVEL was, an empty LEVEL."""
    def change(rec: LvRecord, path: tuple[LvRecord, ...], rng: random.Random) -> str:
        op = rng.choice(["nest", "many", "scalar", "empty", "dup"])
        if op == "nest":
            depth = rng.choice([200, 1100, 3000])
            inner: LvRecord = LvRecord(int(LvType.UINT32), "x", 1)
            for _ in range(depth):
                inner = LvRecord(int(LvType.LEVEL), "", [inner])
            rec.value = [*rec.value, inner]
            rec.offsets = None
            return f"{rec.name}: nested {depth} deep"
        if op == "many":
            n = rng.choice([10000, 100000])
            rec.value = [LvRecord(int(LvType.BOOL), "", 1) for _ in range(n)]
            rec.offsets = None
            return f"{rec.name}: {n} children"
        if op == "scalar":
            rec.type = int(rng.choice(_SCALARS))
            rec.value = _absurd_value(rec.type, rng)
            rec.offsets = None
            return f"{rec.name}: LEVEL -> {LvType(rec.type).name}"
        if op == "dup" and rec.value:
            rec.value = [*rec.value, _clone(rng.choice(rec.value))]
            rec.offsets = None
            return f"{rec.name}: duplicated child"
        rec.value, rec.offsets = [], None
        return f"{rec.name}: empty"
    return _lv_rebuild(info, rng, change, lambda r: r.type == LvType.LEVEL)


def lv_fields(info: SeedInfo, rng: random.Random) -> list[Edit]:
    """Byte edits of one record in place: type code, name_len, LEVEL count/length,
    BYTEARRAY length (records outside compressed blocks, at their decoded positions)."""
    slots = [s for s in info.of_kind("lv") if s.lv is not None]
    if not slots:
        return []
    s = rng.choice(slots)
    assert s.lv is not None
    recs = [r for r, p in _walk(s.lv.root)
            if r.pos is not None and not any(a.type == LvType.COMPRESS for a in p)
            and r.type != LvType.COMPRESS]
    if not recs:
        return []
    r = rng.choice(recs)
    assert r.pos is not None
    base = s.data_offset + r.pos
    data = info.seed.data
    nl = data[base + 1]
    after_name = base + 2 + _LV_NAME_UNIT * nl
    choices = ["type", "name_len"]
    if r.type == LvType.LEVEL:
        choices += ["count", "length", "count", "length"]
    if r.type == LvType.BYTE_ARRAY:
        choices += ["bytes_len", "bytes_len"]
    op = rng.choice(choices)
    if op == "type":
        t = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 76, 0x7F, 0xFF])
        return [Edit(base, 1, bytes([t]), f"{s.name}: {r.name!r} type code = {t}")]
    if op == "name_len":
        v = rng.choice([0, 1, 255, nl + 1, nl - 1])
        return [Edit(base + 1, 1, bytes([v % 256]), f"{s.name}: {r.name!r} name_len = {v}")]
    if op == "bytes_len":
        v = _interesting(_LV_BYTES_LEN.size, len(r.value), len(data), rng)
        return [Edit(after_name, _LV_BYTES_LEN.size, _LV_BYTES_LEN.pack(v),
                     f"{s.name}: {r.name!r} byte array len = {v}")]
    count, length = _LV_LEVEL_HEAD.unpack_from(data, after_name)
    if op == "count":
        count = _interesting(4, count, len(data), rng)
    else:
        length = _interesting(8, length, len(data), rng)
    return [Edit(after_name, _LV_LEVEL_HEAD.size, _LV_LEVEL_HEAD.pack(count, length),
                 f"{s.name}: {r.name!r} LEVEL count={count} length={length}")]


def lv_payload(info: SeedInfo, rng: random.Random) -> list[Edit]:
    """Whole LiteVariant payloads: truncated, a zlib bomb as a compressed record, empty."""
    picked = _pick(info, "lv", rng)
    if picked is None:
        return []
    s, p = picked
    op = rng.choice(["truncate", "bomb", "empty", "garbage_tail"])
    if op == "truncate":
        return _replace_payload(info, s, p[: rng.randrange(len(p) or 1)], f"{s.name}: truncated")
    if op == "bomb":
        head = bytes([int(LvType.COMPRESS)]) + bytes(_glv._TR_COMPRESS_SKIP)
        return _replace_payload(info, s, head + zlib_bomb(), f"{s.name}: compressed-record bomb")
    if op == "empty":
        return _replace_payload(info, s, b"", f"{s.name}: empty")
    return _replace_payload(info, s, p + rng.randbytes(rng.choice([1, 7, 64])), f"{s.name}: tail")


# ------------------------------------------------------------------ XML variant


_VALUE = re.compile(rb'value="[^"]*"')
_RUNTYPE = re.compile(rb'runtype="[^"]*"')


def xml_variant(info: SeedInfo, rng: random.Random) -> list[Edit]:
    picked = _pick(info, "xml", rng)
    if picked is None:
        return []
    s, p = picked
    op = rng.choice(["value", "value", "runtype", "nest", "entities", "xxe", "truncate",
                     "encoding", "bad_utf8", "dup"])
    new: bytes | None = None
    if op == "value":
        hits = list(_VALUE.finditer(p))
        if hits:
            m = rng.choice(hits)
            v = rng.choice([b"", b"-1", b"nan", b"inf", b"1e999", b"18446744073709551615",
                            b"-9223372036854775809", b"99999999999999999999999", b"0x10",
                            b"true", b"\xff\xfe", b"&amp;", b"1" * 5000])
            new = p[: m.start()] + b'value="' + v + b'"' + p[m.end() :]
    elif op == "runtype":
        hits = list(_RUNTYPE.finditer(p))
        if hits:
            m = rng.choice(hits)
            v = rng.choice([b"lx_uint32", b"double", b"CLxStringW", b"CLxByteArray", b"bool",
                            b"lx_int64", b"", b"nonsense", b"CLxListVariant"])
            new = p[: m.start()] + b'runtype="' + v + b'"' + p[m.end() :]
    elif op == "nest":
        d = rng.choice([300, 3000, 20000])
        at = p.rfind(b"</variant>")
        if at > 0:
            new = (p[:at] + b'<a runtype="CLxListVariant">' * d + b"</a>" * d + p[at:])
    elif op == "entities":
        lol = (b'<!DOCTYPE variant [<!ENTITY a "aaaaaaaaaa">'
               + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10)
                          for i in range(9)) + b"]>")
        new = _after_decl(p, lol, b'<x runtype="CLxStringW" value="&j;"/>')
    elif op == "xxe":
        ent = rng.choice([b"file:///dev/zero", b"file:///etc/hostname", b"http://127.0.0.1:9/x"])
        new = _after_decl(p, b'<!DOCTYPE variant [<!ENTITY e SYSTEM "' + ent + b'">]>',
                          b'<x runtype="CLxStringW" value="&e;"/>')
    elif op == "truncate":
        new = p[: rng.randrange(len(p) or 1)]
    elif op == "encoding":
        enc = rng.choice([b"UTF-16", b"nonsense", b"ISO-8859-1", b"UTF-32"])
        new = re.sub(rb'encoding="[^"]*"', b'encoding="' + enc + b'"', p, count=1)
    elif op == "bad_utf8":
        k = rng.randrange(len(p) or 1)
        new = p[:k] + rng.choice([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"]) + p[k + 1 :]
    elif op == "dup":
        hits = list(re.finditer(rb"<[A-Za-z_][^<>]*/>", p))
        if hits:
            m = rng.choice(hits)
            new = p[: m.end()] + m.group(0) * rng.choice([2, 1000]) + p[m.end() :]
    if new is None:
        return []
    return _replace_payload(info, s, new, f"{s.name}: xml {op}")


def _after_decl(p: bytes, doctype: bytes, element: bytes) -> bytes:
    end = p.find(b"?>") + 2 if p.startswith(b"<?xml") else 0
    body = p[end:]
    at = body.rfind(b"</variant>")
    if at > 0:
        body = body[:at] + element + body[at:]
    return p[:end] + doctype + body


# ------------------------------------------------------------------ frames


def frames(info: SeedInfo, rng: random.Random) -> list[Edit]:
    picked = _pick(info, "frame", rng)
    if picked is None:
        return []
    s, p = picked
    stream = p[frame.PIXELS_AT :]
    compressed = stream[:1] == b"\x78"
    ops = ["truncate", "timestamp", "grow", "data_len_short"]
    if compressed:
        ops += ["zlib_truncate", "zlib_bomb", "zlib_garbage", "zlib_short", "zlib_long"]
    op = rng.choice(ops)
    if op == "truncate":
        k = rng.choice([0, 1, frame.PIXELS_AT - 1, frame.PIXELS_AT, frame.PIXELS_AT + 1,
                        len(p) - 1, len(p) // 2])
        return _replace_payload(info, s, p[: max(k, 0)], f"{s.name}: pixels truncated to {k}")
    if op == "data_len_short":
        pos, dt = _hdr_field(s.offset, "data_len")
        v = rng.choice([0, 4, frame.PIXELS_AT, s.data_len - 2])
        return [_put(pos, dt, v, f"{s.name} data_len")]
    if op == "timestamp":
        ts = rng.choice([float("nan"), float("inf"), -1.0, -1e300, 1e300])
        return [Edit(s.data_offset, frame.PIXELS_AT, np.float64(ts).tobytes(),
                     f"{s.name}: timestamp {ts}")]
    if op == "grow":
        return _replace_payload(info, s, p + bytes(rng.choice([1, 2, 4096])), f"{s.name}: longer")
    block = zlib.decompress(stream) if compressed else b""
    if op == "zlib_truncate":
        new = p[: frame.PIXELS_AT + rng.randrange(len(stream))]
    elif op == "zlib_bomb":
        new = p[: frame.PIXELS_AT] + zlib_bomb()
    elif op == "zlib_garbage":
        new = p[: frame.PIXELS_AT] + b"\x78\x9c" + rng.randbytes(64)
    elif op == "zlib_short":
        new = p[: frame.PIXELS_AT] + zlib.compress(block[: len(block) // 2])
    else:
        new = p[: frame.PIXELS_AT] + zlib.compress(block + bytes(100))
    return _replace_payload(info, s, new, f"{s.name}: {op}")


# ------------------------------------------------------------------ legacy JPEG 2000


def jp2_boxes(info: SeedInfo, rng: random.Random) -> list[Edit]:
    if info.kind != "legacy" or not info.boxes:
        return []
    n = len(info.seed.data)
    op = rng.choice(["len", "len", "ext", "map", "trailer", "nest", "type"])
    off, btype, head, length = rng.choice(info.boxes)
    if op == "len":
        v = rng.choice([0, 1, 7, 8, length - 1, length + 1, n, 2**32 - 1])
        return [_put(off, _BOX_LEN, v, f"box {btype!r}@{off} len")]
    if op == "ext":  # len = 1: a 64-bit length follows the type
        v = rng.choice([0, 16, 2**63, 2**64 - 1, n + 1])
        return [Edit(off, 8 if head == 8 else 16,
                     _pack(_BOX_LEN, 1) + btype.encode("latin-1")[:4].ljust(4) + v.to_bytes(8, "big"),
                     f"box {btype!r}@{off} ext len = {v}")]
    if op == "type":
        t = rng.choice([b"jp2h", b"jp2c", b"\0\0\0\0", b"uuid", b"ihdr"])
        return [Edit(off + _BOX_LEN.itemsize, 4, t, f"box @{off} type = {t!r}")]
    if op == "map" and info.box_entry_offset_pos:
        pos = rng.choice(info.box_entry_offset_pos)
        odt = np.dtype("<u8")
        v = rng.choice([0, 1, n, 2**64 - 1, rng.choice(info.boxes)[0] + 4])
        return [Edit(pos, odt.itemsize, _pack(odt, v), f"box map entry offset = {v}")]
    if op == "trailer" and info.box_trailer_pos is not None:
        dt = _field(_BOX_TRAILER, "distance")[1]
        v = rng.choice([0, 1, n, n + 1, 2**64 - 1, 40])
        return [_put(info.box_trailer_pos, dt, v, "box map trailer distance")]
    # deeply nested superboxes in front of the first box's payload
    d = rng.choice([100, 2000])
    blob = b""
    for _ in range(d):
        blob = _pack(_BOX_LEN, 8 + len(blob)) + b"jp2h" + blob
    return [Edit(off, 0, blob, f"{d} nested jp2h boxes @{off}")]


# ------------------------------------------------------------------ registry

RAW: dict[str, Mutator] = {
    "raw_bitflip": raw_bitflip, "raw_byteset": raw_byteset, "raw_int": raw_int,
    "raw_truncate": raw_truncate, "raw_insert": raw_insert, "raw_delete": raw_delete,
    "raw_copy": raw_copy, "raw_zlib_bomb": raw_zlib_bomb,
}
STRUCTURED: dict[str, Mutator] = {
    "chunk_header": chunk_header, "chunk_name": chunk_name, "map_entry": map_entry,
    "map_rebuild": map_rebuild, "trailer": trailer, "signature": signature,
    "lv_value": lv_value, "lv_level": lv_level, "lv_fields": lv_fields, "lv_payload": lv_payload,
    "xml_variant": xml_variant, "frames": frames, "jp2_boxes": jp2_boxes,
}
MUTATORS: dict[str, Mutator] = {**RAW, **STRUCTURED}


def mutate(info: SeedInfo, rng: random.Random) -> Recipe:
    """One to three mutations of `info`'s seed (structure-aware ones two times in three)."""
    recipe = Recipe()
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        for _attempt in range(8):
            pool = STRUCTURED if rng.random() < 0.67 else RAW
            name = rng.choice(sorted(pool))
            edits = pool[name](info, rng)
            if edits:
                recipe.edits.extend(edits)
                recipe.mutators.append(name)
                break
    if not recipe.edits:  # nothing applied (a tiny or unparsable seed): one raw flip
        recipe.edits = raw_bitflip(info, rng)
        recipe.mutators.append("raw_bitflip")
    return recipe
