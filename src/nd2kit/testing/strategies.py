"""Hypothesis strategies and comparison helpers shared by the codec property tests.

This module writes raw bytes *by hand* (``struct``, ``zlib``) on purpose: it is the
independent side of the property tests, and an oracle that shared code with the
generated codecs would prove nothing. It is the one module of ``src/`` exempt from the
rule that only ``codecs/`` and the generated code handle byte layouts (the layering
test names the exemption); nothing in the library imports it.

Strategies
----------
* :func:`lv_chunks` / :func:`lv_records` — LiteVariant trees as :class:`LvRecord`
  (types 1, 2, 3, 4, 5, 6, 8, 9, 11; sometimes a compressed (76) root; deep LEVEL
  chains; lists = LEVELs whose children all have the empty name; names and strings
  with code units such as U+0100 / U+4100 (a ``00`` byte at odd or even offsets) and
  non-BMP characters; names at most 254 UTF-16 units and without NUL).
* :func:`chunk_maps` — chunk map entries (ASCII names with exactly one ``!`` at the
  end, u64 offsets/sizes incl. ``size == offset`` and fields full of ``0x21`` bytes,
  up to a few thousand entries).
* :func:`jp2_files` / :func:`jp2_box_list_bytes` — legacy JPEG 2000 box trees
  (``jP  ``, ``ftyp``, ``jp2h`` superbox with ``ihdr``, ``xml `` boxes, ``jp2c``
  codestreams, LIM tags) and raw box sequences with extended (``len == 1``) and
  to-the-end (``len == 0``) lengths.
* :func:`label_images` / :func:`rle_stream_models` — 2-D uint label images (small,
  incl. empty) and raw inflated RLE streams with arbitrary header values.

Helpers
-------
* :func:`plain` turns fast ``Node`` records, kaitaistruct objects and construct
  containers into the same plain data (floats bit-exact, enums as ints, computed
  ``instances`` dropped) so the three implementations can be compared with ``==``.
* :func:`construct_module` / :func:`construct_usable` load the construct target and
  read ``generated/MANIFEST.json`` to decide where it may be used as an oracle (for
  parsing or for building).
"""

from __future__ import annotations

import enum
import functools
import importlib
import json
import struct
import sys
import types
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nd2kit.codecs.jp2 import Box
from nd2kit.codecs.lite_variant import LvChunk, LvRecord, LvType

# --------------------------------------------------------------------------- constants

MAP_SIGNATURE = "ND2 CHUNK MAP SIGNATURE 0000001!"
FILEMAP_NAME = "ND2 FILEMAP SIGNATURE NAME 0001!"
U64 = 2**64 - 1
U32 = 2**32 - 1

#: LiteVariant types the generators emit (never 0, 7, 10; 76 only as the root).
LV_SCALAR_TYPES = (1, 2, 3, 4, 5, 6, 8, 9)
MAX_NAME_UNITS = 254


# --------------------------------------------------------------------------- helpers


def utf16_units(s: str) -> int:
    """Number of UTF-16 code units of `s` (non-BMP characters count 2)."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def looks_like_record(data: bytes) -> bool:
    """nd2 0.12's ``_starts_with_clx_header``: BYTEARRAYs it tries to decode as LV."""
    if len(data) < 4:
        return False
    return data[0] == 76 or (1 <= data[0] <= 11 and data[1] >= 2)


def renamed(rec: LvRecord, name: str) -> LvRecord:
    """A shallow copy of `rec` with another name."""
    return LvRecord(rec.type, name, rec.value, offsets=rec.offsets, gap=rec.gap,
                    name_raw=rec.name_raw, reserved=rec.reserved, packed=rec.packed)


def iter_lv(rec: LvRecord) -> Iterator[LvRecord]:
    """`rec` and every record below it (through LEVELs and compressed records)."""
    yield rec
    if rec.type == LvType.LEVEL:
        for c in rec.value:
            yield from iter_lv(c)
    elif rec.type == LvType.COMPRESS:
        yield from iter_lv(rec.value)


def lv_depth(rec: LvRecord) -> int:
    if rec.type == LvType.LEVEL:
        return 1 + max((lv_depth(c) for c in rec.value), default=0)
    if rec.type == LvType.COMPRESS:
        return 1 + lv_depth(rec.value)
    return 1


def f64_bits(x: float) -> str:
    return struct.pack("<d", x).hex()


def _u64_as_f64(u: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", u))[0])


@contextmanager
def recursion_limit(n: int) -> Iterator[None]:
    """Temporarily raise the recursion limit (the reference parsers recurse deeply:
    construct uses ~20 Python frames per nested LEVEL)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, n))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# --------------------------------------------------------------------------- LiteVariant

#: Characters that stress UTF-16 handling: U+0100 is ``00 01`` and U+4100 ``00 41``
#: (a zero byte at the start of a unit), "A" + U+0100 puts ``00 00`` at an odd
#: offset; non-BMP characters are surrogate pairs.
TRICKY_CHARS = (
    "A", "a", "z", "_", ".", "|", " ", "#", "\x01", "\x7f", "\u00e9", "\u0100", "\u0101",
    "\u4100", "\u2603", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0001F600",
    "\U0010FFFD",
)
_chars = st.one_of(
    st.sampled_from(TRICKY_CHARS),
    st.characters(codec="utf-8", exclude_characters="\x00"),  # no surrogates, no NUL
)
REAL_NAMES = (
    "SLxImageAttributes", "uiWidth", "uiWidthBytes", "dCompressionParam", "ePixelType",
    "sizeObjFullChip.cx", "bFlag", "iVal", "uiVal", "dVal", "wsName", "baData", "pList",
    "ppNextLevelEx", "a0", "a1", "i0000000000", "_00", "m_pFilter", "TextInfoItem_5",
)
#: Names right at the 254-unit limit (name_len byte = 255 with the NUL).
LIMIT_NAMES = ("n" * 254, "\U0001F600" * 127, "b" * 253 + "\u0100", "\u0100" * 254,
               "A\u0100" * 127)


def lv_names(*, nd2_compatible: bool = False) -> st.SearchStrategy[str]:
    """Record names: no NUL, at most 254 UTF-16 units.

    With `nd2_compatible`, names do not start with U+FEFF / U+FFFE: nd2 decodes names
    with Python's BOM-sniffing ``utf16`` codec and would eat (or byte-swap on) them,
    while nd2kit, kaitai and construct decode UTF-16LE as written.
    """
    s = st.one_of(
        st.sampled_from(REAL_NAMES),
        st.text(_chars, min_size=1, max_size=12),
        st.sampled_from(LIMIT_NAMES),
    ).filter(lambda n: utf16_units(n) <= MAX_NAME_UNITS)
    if nd2_compatible:
        s = s.filter(lambda n: not n.startswith(("\ufeff", "\ufffe")))
    return s


def lv_strings(*, nd2_compatible: bool = False) -> st.SearchStrategy[str]:
    """STRING values: no NUL and no U+FEFF at the start (readers sniff a BOM).

    With `nd2_compatible` also no U+FFFE at the start (nd2 would decode the rest as
    big-endian; nd2kit keeps the text as written).
    """
    bad = ("\ufeff", "\ufffe") if nd2_compatible else ("\ufeff",)
    return st.text(_chars, max_size=24).filter(lambda s: not s.startswith(bad))


_doubles = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.5, float("inf"), -float("inf"), 5e-324, 1.7976931348623157e308]),
    st.integers(0, U64).map(_u64_as_f64),  # any bit pattern, NaN payloads included
)


@functools.cache
def _bytearray_values(*, nd2_compatible: bool) -> st.SearchStrategy[bytes]:
    """BYTEARRAY payloads.

    nd2 0.12 tries to decode a BYTEARRAY that *looks like* a record as nested
    LiteVariant, tolerating errors; nd2kit only uses the nested decode when it
    succeeds strictly (docs/codecs.md). With `nd2_compatible` the payloads are either
    bytes that do not look like a record, or a valid encoded record (both readers then
    decode it the same way); otherwise record-like garbage is generated too.
    """
    flags = st.lists(st.integers(0, 1), max_size=12).map(bytes)  # pItemValid-style
    raw = st.binary(max_size=48)
    nested = st.deferred(lambda: lv_records(max_leaves=4, nd2_compatible=nd2_compatible,
                                            deep=False, compressed=False)).map(_encode_one)
    if nd2_compatible:
        return st.one_of(flags, raw.filter(lambda b: not looks_like_record(b)), nested)
    lookalike = st.builds(lambda t, n, rest: bytes([t, n]) + rest,
                          st.sampled_from([1, 2, 3, 8, 9, 11, 76]), st.integers(2, 255),
                          st.binary(min_size=2, max_size=30))
    return st.one_of(flags, raw, nested, lookalike)


def _encode_one(rec: LvRecord) -> bytes:
    from nd2kit.codecs import lite_variant

    return lite_variant.encode(rec)


@functools.cache
def lv_scalars(*, nd2_compatible: bool = False) -> st.SearchStrategy[LvRecord]:
    """Unnamed scalar records of every non-LEVEL type."""
    return st.one_of(
        st.builds(lambda v: LvRecord(LvType.BOOL, "", v),
                  st.one_of(st.sampled_from([0, 1]), st.integers(0, 255))),
        st.builds(lambda v: LvRecord(LvType.INT32, "", v), st.integers(-(2**31), 2**31 - 1)),
        st.builds(lambda v: LvRecord(LvType.UINT32, "", v), st.integers(0, U32)),
        st.builds(lambda v: LvRecord(LvType.INT64, "", v), st.integers(-(2**63), 2**63 - 1)),
        st.builds(lambda v: LvRecord(LvType.UINT64, "", v), st.integers(0, U64)),
        st.builds(lambda v: LvRecord(LvType.DOUBLE, "", v), _doubles),
        st.builds(lambda v: LvRecord(LvType.STRING, "", v),
                  lv_strings(nd2_compatible=nd2_compatible)),
        st.builds(lambda v: LvRecord(LvType.BYTE_ARRAY, "", v),
                  _bytearray_values(nd2_compatible=nd2_compatible)),
    )


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked with the given integer weights (``st.one_of``
    collapses duplicates, so repeating a strategy there does not weight it)."""
    pool = [s for w, s in choices for _ in range(w)]
    return st.sampled_from(range(len(pool))).flatmap(lambda i: pool[i])


def _rare(s: st.SearchStrategy[Any], default: Any, one_in: int = 8) -> st.SearchStrategy[Any]:
    """`s` about once in `one_in` draws, else `default`."""
    return st.integers(0, one_in - 1).flatmap(lambda k: s if k == 0 else st.just(default))


def _level(children: list[LvRecord], draw_extras: tuple[bytes, bool, int]) -> LvRecord:
    gap, own_offsets, seed = draw_extras
    offsets = None
    if own_offsets:  # a stored offset table (kept by the encoder as is)
        rng = np.random.default_rng(seed)
        offsets = tuple(int(x) for x in rng.integers(0, 2**63, size=len(children), dtype=np.int64))
    return LvRecord(LvType.LEVEL, "", children, offsets=offsets, gap=gap)


@functools.cache
def lv_records(*, max_leaves: int = 24, nd2_compatible: bool = False, deep: bool = True,
               compressed: bool = True, allow_gaps: bool = True) -> st.SearchStrategy[LvRecord]:
    """Named LiteVariant trees (the root is usually a LEVEL).

    * structs: LEVELs with named children (names may repeat or collide after prefix
      stripping; readers keep the last value);
    * lists: LEVELs whose children all have the empty name (one-element lists too);
    * mixed LEVELs (named and unnamed children) now and then;
    * `deep`: sometimes the tree is wrapped in a chain of up to 60 LEVELs;
    * `compressed`: about one root in eight is a type-76 record wrapping the tree;
    * `allow_gaps`: rarely, a LEVEL whose `length` covers bytes after its last child,
      or a stored (garbage) offset table — both legal for the readers.
    """
    names = lv_names(nd2_compatible=nd2_compatible)
    gaps = _rare(st.binary(min_size=1, max_size=6), b"", 12) if allow_gaps else st.just(b"")
    extras = st.tuples(gaps,
                       _rare(st.just(True), False, 10) if allow_gaps else st.just(False),
                       st.integers(0, 2**32))

    def extend(children: st.SearchStrategy[LvRecord]) -> st.SearchStrategy[LvRecord]:
        struct_ = st.builds(lambda kids, ex: _level([renamed(c, n) for n, c in kids], ex),
                            st.lists(st.tuples(names, children), max_size=6), extras)
        list_ = st.builds(lambda kids, ex: _level([renamed(c, "") for c in kids], ex),
                          st.lists(children, min_size=1, max_size=6), extras)
        mixed = st.builds(
            lambda kids, ex: _level([renamed(c, n if named else "") for named, n, c in kids], ex),
            st.lists(st.tuples(st.booleans(), names, children), max_size=5), extras)
        return weighted((3, struct_), (2, list_), (1, mixed))

    tree = st.recursive(lv_scalars(nd2_compatible=nd2_compatible), extend, max_leaves=max_leaves)
    if deep:
        depth = st.one_of(st.just(0), st.integers(0, 3), _rare(st.integers(4, 60), 0, 6))

        def chain(rec: LvRecord, n: int, kinds: list[bool], nm: str) -> LvRecord:
            for i in range(n):  # alternate struct / one-element-list wrappers
                child = renamed(rec, nm if kinds[i % len(kinds)] else "")
                rec = LvRecord(LvType.LEVEL, "", [child])
            return rec

        tree = st.builds(chain, tree, depth, st.lists(st.booleans(), min_size=1, max_size=4), names)
    named = st.builds(renamed, tree, names)
    if not compressed:
        return named

    def wrap(rec: LvRecord, gap: bytes, reserved: bytes | None) -> LvRecord:
        return LvRecord(LvType.COMPRESS, "", rec, gap=gap, reserved=reserved)

    # reserved bytes: zeros (None), NIS-style "V0Z" + u32 + 4 zero bytes (as in the
    # real corpus files), or anything
    nis = st.builds(lambda n: b"V0Z" + struct.pack("<I", n) + bytes(4), st.integers(0, U32))
    reserved = weighted((3, st.none()), (1, nis), (1, st.binary(min_size=11, max_size=11)))
    packed = st.builds(wrap, named, _rare(st.binary(min_size=1, max_size=8), b"", 6), reserved)
    return weighted((7, named), (1, packed))


def lv_chunks(**kw: Any) -> st.SearchStrategy[LvChunk]:
    """:class:`LvChunk` payloads: a tree plus (rarely) trailing bytes after the root.

    A compressed root runs to the end of the payload, so it never has trailing bytes.
    """
    trailing = _rare(st.binary(min_size=1, max_size=12), b"", 10)
    return st.builds(lambda r, t: LvChunk(r, b"" if r.type == LvType.COMPRESS else t),
                     lv_records(**kw), trailing)


def lv_plain(rec: LvRecord) -> tuple[Any, ...]:
    """Bit-exact comparable form of an LvRecord tree (type, name, value, gap)."""
    v = rec.value
    if rec.type == LvType.LEVEL:
        v = tuple(lv_plain(c) for c in v)
    elif rec.type == LvType.COMPRESS:
        v = lv_plain(v)
    elif rec.type == LvType.DOUBLE:
        v = ("f64", f64_bits(v))
    elif isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v)
    return (int(rec.type), "" if rec.type == LvType.COMPRESS else rec.name, v, bytes(rec.gap))


def lv_node_plain(node: Any) -> tuple[Any, ...]:
    """The same form as :func:`lv_plain` from a fast ``Record`` node (or a kaitai one)."""
    t = int(node.type)
    if t == LvType.COMPRESS:
        inner = node.value.inflated
        return (t, "", lv_node_plain(inner.root), bytes(inner.trailing))
    name = node.name  # the whole name field; real files have name_len 0 records too
    if node.name_len and name.endswith("\x00"):
        name = name[:-1]
    v = node.value
    gap = b""
    if t == LvType.LEVEL:
        gap = bytes(v.body.gap)
        v = tuple(lv_node_plain(c) for c in v.body.children)
    elif t == LvType.STRING:
        v = v.value
    elif t == LvType.BYTE_ARRAY:
        v = bytes(v.data)
    elif t == LvType.DOUBLE:
        v = ("f64", f64_bits(v))
    return (t, name, v, gap)


def limnd2_offsets(rec: LvRecord) -> list[int]:
    """Offset table limnd2/NIS write for LEVEL `rec` (format §3.4):
    child offsets relative to the record start, sorted by child name (list items by the
    decimal string of their index)."""
    nl = utf16_units(rec.name) + 1
    pos = 2 + 2 * nl + 12
    rel = []
    from nd2kit.codecs import lite_variant

    for c in rec.value:
        rel.append(pos)
        pos += len(lite_variant.encode(c))
    keys = [(str(i) if c.name == "" else c.name, i) for i, c in enumerate(rec.value)]
    return [rel[i] for _, i in sorted(keys, key=lambda k: k[0])]


def nd2_plain(x: Any) -> Any:
    """nd2-shaped JSON with bools tagged and floats bit-exact (so NaN == NaN)."""
    if isinstance(x, dict):
        return {k: nd2_plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nd2_plain(v) for v in x]
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, float):
        return ("f64", f64_bits(x))
    return x


# --------------------------------------------------------------------------- chunk map


@dataclass
class GenChunkMap:
    """A generated chunk map: what is stored in the file, entry by entry."""

    names: list[str]
    offsets: list[int]
    stored_sizes: list[int]  # u64 as written (size == offset is the "unknown" quirk)
    end_value: int

    @property
    def sizes(self) -> list[int]:
        """Sizes as the readers report them: -1 where size == offset."""
        return [-1 if s == o else s for o, s in zip(self.offsets, self.stored_sizes)]

    def body(self) -> bytes:
        """Entries + end marker, written byte by byte (independent of nd2kit)."""
        out = bytearray()
        for n, o, s in zip(self.names, self.offsets, self.stored_sizes):
            out += n.encode("ascii") + struct.pack("<QQ", o, s)
        out += MAP_SIGNATURE.encode() + struct.pack("<Q", self.end_value)
        return bytes(out)


REAL_CHUNK_NAMES = (
    "ImageAttributesLV!", "ImageMetadataLV!", "ImageMetadataSeqLV|0!", "ImageTextInfoLV!",
    "ImageCalibrationLV|0!", "ImageDataSeq|0!", "CustomData|AcqTimesCache!",
    "CustomDataVar|BinaryMetadata_v1!", "CustomDataSeq|RleZipBinarySequence_1_v1|0!",
    "ND2 FILE SIGNATURE CHUNK NAME01!", "ImageEventsLV!", "CustomData|RoiMetadata_v1!",
)
_ascii_no_bang = st.characters(min_codepoint=0, max_codepoint=127, exclude_characters="!")


def chunk_names() -> st.SearchStrategy[str]:
    """ASCII names with exactly one ``!``, at the end (the bare ``"!"`` included), never
    the map signature itself but sometimes a name that *ends* with it."""
    return st.one_of(
        st.sampled_from(REAL_CHUNK_NAMES + ("!", "X" + MAP_SIGNATURE, "ND2 " + MAP_SIGNATURE)),
        st.text(_ascii_no_bang, max_size=40).map(lambda s: s + "!"),
        st.builds(lambda s: s * 20 + "!", st.text(_ascii_no_bang, min_size=1, max_size=3)),
    ).filter(lambda n: n != MAP_SIGNATURE)


#: the map signature's first two u64 words: fields that start spelling the end marker
_SIG_WORDS = struct.unpack("<QQ", MAP_SIGNATURE.encode()[:16])


def u64_fields(max_value: int = U64) -> st.SearchStrategy[int]:
    """u64 values, often made of 0x21 ('!') bytes, which look like name terminators."""
    bang_bytes = st.lists(st.sampled_from([0x00, 0x21, 0x21, 0xFF, 0x20, 0x4E, 0x01]),
                          min_size=8, max_size=8).map(lambda b: int.from_bytes(bytes(b), "little"))
    s = st.one_of(
        st.integers(0, max_value),
        st.sampled_from([0, 1, 0x21, 0x2100, 0x21 << 56, 0x2121212121212121, 4096, 0x1000_0000,
                         2**63 - 1, 2**63, U64, *_SIG_WORDS]),
        bang_bytes,
    )
    return s.map(lambda v: v if v <= max_value else v & max_value)


@st.composite
def chunk_maps(draw: Any, *, max_bulk: int = 3000, max_size_value: int = U64,
               unique: bool = False) -> GenChunkMap:
    """Chunk maps: a few hand-drawn entries plus (sometimes) a bulk of up to
    `max_bulk` entries from a seeded RNG (0x21 bytes injected into ~1 in 8 field
    bytes), ``size == offset`` in about one entry in eight.

    `max_size_value` caps the stored sizes. `unique` drops repeated names.
    """
    entries = draw(st.lists(st.tuples(chunk_names(), u64_fields(), u64_fields(max_size_value),
                                      st.integers(0, 7)), max_size=12))
    names = [e[0] for e in entries]
    offsets = [e[1] for e in entries]
    sizes = [e[1] if (e[3] == 0 and e[1] <= max_size_value) else e[2] for e in entries]
    n_bulk = 0 if max_bulk == 0 else draw(weighted(
        (4, st.just(0)), (2, st.integers(1, min(40, max_bulk))),
        (1, st.integers(min(100, max_bulk), min(500, max_bulk))),
        (1, st.integers(min(1000, max_bulk), max_bulk))))
    if n_bulk:
        rng = np.random.default_rng(draw(st.integers(0, 2**32)))
        prefixes = ["ImageDataSeq|", "CustomDataSeq|RleZipBinarySequence_1_v1|", "X",
                    "ImageMetadataSeqLV|"]
        raw = rng.integers(0, 256, size=(n_bulk, 16), dtype=np.uint8)
        raw[rng.random((n_bulk, 16)) < 0.125] = 0x21
        fields = raw.view("<u8").reshape(n_bulk, 2)
        same = rng.random(n_bulk) < 0.125
        for i in range(n_bulk):
            o, s = int(fields[i, 0]), int(fields[i, 1])
            s = min(s, max_size_value) if not same[i] else o
            if s > max_size_value:
                s = s & max_size_value
            names.append(f"{prefixes[i % len(prefixes)]}{i}!")
            offsets.append(o)
            sizes.append(s)
    if unique:
        seen: set[str] = set()
        keep = []
        for i, n in enumerate(names):
            if n not in seen:
                seen.add(n)
                keep.append(i)
        names = [names[i] for i in keep]
        offsets = [offsets[i] for i in keep]
        sizes = [sizes[i] for i in keep]
    return GenChunkMap(names, offsets, sizes, draw(u64_fields()))


# --------------------------------------------------------------------------- JPEG 2000

LIM_TAGS = ("VIMD", "VCAL", "ARTT", "AIM1", "AIMD", "TINF", "ACAL", "IEVE", "SROB")
_box_type_chars = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
#: Random 4-character box types; "jp2h" and "ihdr" have their own body layouts.
box_types = st.text(_box_type_chars, min_size=4, max_size=4).filter(
    lambda t: t not in ("jp2h", "ihdr"))
_tags = st.one_of(st.sampled_from(LIM_TAGS + ("LUNK",)),
                  st.text(_box_type_chars, min_size=4, max_size=4))


def ihdr_payloads() -> st.SearchStrategy[bytes]:
    return st.builds(lambda h, w, nc, b, c, u, i: struct.pack(">IIHBBBB", h, w, nc, b, c, u, i),
                     st.integers(0, U32), st.integers(0, U32), st.integers(0, 0xFFFF),
                     st.integers(0, 255), st.sampled_from([7, 7, 0, 255]), st.integers(0, 255),
                     st.integers(0, 255))


def _xml_payload(text: str, tag: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><variant version="1.0">'
            f'<no_name runtype="CLxListVariant"><{tag} runtype="CLxStringW" value="{text}"/>'
            f"</no_name></variant>").encode()


_xml_text = st.text(st.characters(codec="ascii", categories=("L", "N")), max_size=12)


def _leaf_boxes() -> st.SearchStrategy[Box]:
    xml = st.builds(lambda t, g: Box("xml ", _xml_payload(t, "s" + g), tag=g), _xml_text,
                    st.sampled_from(LIM_TAGS))
    jp2c = st.builds(lambda p: Box("jp2c", b"\xff\x4f\xff\x51" + p, tag="LUNK"),
                     st.binary(max_size=40))
    other = st.builds(lambda t, p, g: Box(t, p, tag=g), box_types, st.binary(max_size=24),
                      st.one_of(st.none(), _tags))
    return weighted((2, xml), (2, jp2c), (1, other))


def _jp2h(depth: int = 0) -> st.SearchStrategy[Box]:
    ihdr = st.builds(lambda p: Box("ihdr", p), ihdr_payloads())
    extra = st.builds(lambda t, p: Box(t, p), box_types, st.binary(max_size=16))
    kids: list[st.SearchStrategy[Box]] = [extra]
    if depth < 2:  # a nested jp2h now and then (the parser recurses into any jp2h)
        kids.append(st.deferred(lambda: _jp2h(depth + 1)))
    return st.builds(lambda first, rest: Box("jp2h", children=([first] if first else []) + rest),
                     weighted((3, ihdr), (1, st.none())),
                     st.lists(st.one_of(*kids), max_size=3))


@st.composite
def jp2_files(draw: Any) -> list[Box]:
    """Top-level boxes of a legacy file: signature, ftyp, jp2h(ihdr, ...), then a
    shuffled mix of xml (tagged VIMD, VCAL, ...), jp2c (LUNK) and other boxes."""
    head_tag = st.sampled_from([None, "LUNK"])
    boxes = [
        Box("jP  ", b"\r\n\x87\n", tag=draw(head_tag)),
        Box("ftyp", b"jp2 \x00\x00\x00\x00jp2 ", tag=draw(head_tag)),
    ]
    jp2h = draw(_jp2h())
    jp2h.tag = draw(head_tag)
    boxes.append(jp2h)
    boxes += draw(st.lists(_leaf_boxes(), max_size=10))
    if draw(st.integers(0, 5)) == 0:
        boxes = draw(st.permutations(boxes))
    return boxes


@st.composite
def jp2_box_list_bytes(draw: Any, depth: int = 0) -> bytes:
    """A raw box sequence using every length form: plain, extended (len 1 + u64), the
    invalid 2..7 (the spec reads no payload) and, for the last box of a sequence,
    0 = "runs to the end"."""
    out = bytearray()
    n = draw(st.integers(0 if depth else 1, 4))
    for i in range(n):
        kinds = ["plain", "plain", "jp2h", "ihdr"] if depth < 2 else ["plain", "ihdr"]
        kind = draw(st.sampled_from(kinds))
        if kind == "jp2h":
            btype, body = b"jp2h", draw(jp2_box_list_bytes(depth=depth + 1))
        elif kind == "ihdr":
            extra = draw(_rare(st.binary(min_size=1, max_size=4), b""))  # longer bodies too
            btype, body = b"ihdr", draw(ihdr_payloads()) + extra
        else:
            btype, body = draw(box_types).encode(), draw(st.binary(max_size=20))
        form = draw(st.sampled_from(["len", "len", "len", "ext", "short"]
                                    + (["eos"] if i == n - 1 else [])))
        if form == "short":  # len 2..7 (less than the header): no payload at all
            out += struct.pack(">I", draw(st.integers(2, 7))) + btype
        elif form == "len":
            out += struct.pack(">I", 8 + len(body)) + btype + body
        elif form == "ext":
            out += struct.pack(">I", 1) + btype + struct.pack(">Q", 16 + len(body)) + body
        else:
            out += struct.pack(">I", 0) + btype + body
    return bytes(out)


def box_plain(b: Box, top: bool = True) -> tuple[Any, ...]:
    """Comparable form of a Box tree (tags default to the box type on the top level)."""
    tag = (b.tag or b.box_type) if top else None
    return (b.box_type, bytes(b.payload), tuple(box_plain(c, False) for c in b.children), tag)


# --------------------------------------------------------------------------- RLE masks


@st.composite
def label_images(draw: Any, *, max_side: int = 12, max_label: int | None = None) -> np.ndarray:
    """Small 2-D uint label images (0 = background), incl. 0-sized and all-zero ones."""
    dtype = np.dtype(draw(st.sampled_from([np.uint8, np.uint16, np.uint32])))
    top = int(np.iinfo(dtype).max)
    if max_label is not None:
        top = min(max_label, top)
    shape = draw(st.tuples(st.integers(0, max_side), st.integers(0, max_side)))
    label = st.one_of(st.integers(1, min(top, 6)), st.integers(1, top), st.just(top))
    labels = draw(st.lists(label, max_size=5, unique=True))
    if not labels:
        return np.zeros(shape, dtype)
    elements = st.one_of(st.just(0), st.sampled_from(labels))
    arr: np.ndarray = draw(hnp.arrays(dtype, shape, elements=elements))
    return arr


_u32 = st.one_of(st.integers(0, U32), st.sampled_from([0, 1, 3, 0x21, 0xFFFF, 2**31, U32]))


@st.composite
def rle_stream_models(draw: Any) -> dict[str, Any]:
    """An inflated RLE stream as plain data (``plain()`` shape), with arbitrary values
    in every field that is not a count: the layout must not care."""
    version = draw(st.sampled_from([3, 3, 2]))
    objects = []
    for _ in range(draw(st.integers(0, 4))):
        rows = []
        for _ in range(draw(st.integers(0, 3))):
            runs = draw(st.lists(st.fixed_dictionaries({"x": _u32, "length": _u32}), max_size=4))
            rows.append({"y": draw(_u32), "run_count": len(runs), "runs": runs})
        hdr = {k: draw(_u32) for k in ("object_id", "left", "top", "right", "bottom",
                                         "object_bytes")}
        hdr.update(row_count=len(rows), last_row_offset=draw(_u32), status=draw(_u32))
        obj: dict[str, Any] = {"header": hdr}
        if version == 2:
            obj["extra"] = [draw(_u32), draw(_u32)]
        obj["rows"] = rows
        objects.append(obj)
    header = {"version": version, "width": draw(_u32), "height": draw(_u32),
              "object_count": len(objects), "bytes_of_objects": draw(_u32),
              "last_object_offset": draw(_u32), "custom_data_size": draw(_u32)}
    return {"header": header, "objects": objects}


_OBJ_HDR = ("object_id", "left", "top", "right", "bottom", "object_bytes", "row_count",
            "last_row_offset", "status")
_STREAM_HDR = ("version", "width", "height", "object_count", "bytes_of_objects",
               "last_object_offset", "custom_data_size")


def rle_stream_bytes(model: dict[str, Any]) -> bytes:
    """Serialize an :func:`rle_stream_models` model with ``struct`` (format §6.1)."""
    h = model["header"]
    out = bytearray(struct.pack("<7I", *(h[k] for k in _STREAM_HDR)))
    for obj in model["objects"]:
        out += struct.pack("<9I", *(obj["header"][k] for k in _OBJ_HDR))
        if h["version"] == 2:
            out += struct.pack("<2I", *obj["extra"])
        for row in obj["rows"]:
            out += struct.pack("<2I", row["y"], row["run_count"])
            for run in row["runs"]:
                out += struct.pack("<2I", run["x"], run["length"])
    return bytes(out)


def rle_payload(stream: bytes, declared: int | None = None) -> bytes:
    """A mask chunk payload: u32 inflated size + zlib stream."""
    return struct.pack("<I", len(stream) if declared is None else declared) + zlib.compress(stream)


# --------------------------------------------------------------------------- plain data

#: ``instances:`` values the construct target renders as Computed fields of the struct
#: (kaitai and the fast codecs expose them as properties, not fields).
COMPUTED_FIELDS = frozenset({"is_end"})


def plain(obj: Any) -> Any:
    """Plain, comparable data from a fast Node, a KaitaiStruct or a construct Container.

    Absent optional fields (kaitai: attribute not set; construct and fast: None) are
    dropped; enums become ints; floats become their bit pattern; bytes-likes become
    bytes; numpy arrays become lists (structured ones lists of dicts).
    """
    from construct import Container, EnumIntegerString, ListContainer
    from kaitaistruct import KaitaiStruct

    from nd2kit._generated.fast._runtime import Node

    if obj is None:
        return None
    if isinstance(obj, EnumIntegerString):
        return int(obj.intvalue)
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, enum.Enum):
        return int(obj.value)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return ("f64", f64_bits(float(obj)))
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.names:
            return [{n: plain(r[n]) for n in obj.dtype.names} for r in obj]
        return [plain(x) for x in obj.tolist()]
    if isinstance(obj, Node):
        out = {f: plain(getattr(obj, f)) for f in obj.FIELDS}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(obj, KaitaiStruct):
        out = {k: plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(obj, Container):
        out = {k: plain(v) for k, v in obj.items()
               if not str(k).startswith("_") and k not in COMPUTED_FIELDS}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(obj, (list, tuple, ListContainer)):
        return [plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items() if v is not None}
    raise TypeError(f"no plain form for {type(obj).__name__}")


# --------------------------------------------------------------------------- construct oracle

_MANIFEST: dict[str, Any] | None = None


def manifest() -> dict[str, Any]:
    global _MANIFEST
    if _MANIFEST is None:
        text = resources.files("nd2kit._generated").joinpath("MANIFEST.json").read_text()
        _MANIFEST = json.loads(text)
    return _MANIFEST


def construct_status(spec: str, struct_name: str) -> str:
    return str(manifest()["construct"][spec][struct_name])


def construct_usable(spec: str, struct_name: str,
                     reached: frozenset[str] | set[str] = frozenset(), *,
                     mode: str = "parse") -> bool:
    """Whether the manifest allows using construct struct `struct_name` as an oracle
    (`mode` "parse" or "build") for a value that reaches the structs in `reached`.

    "faithful" -> yes; "partial: not for values that reach X" -> unless X is reached;
    "partial: parse only (...)" -> for parsing only; "partial: as X (...)" and
    "contains X" -> as X; anything else (Error, later-field references, ...) -> no.
    """
    status = construct_status(spec, struct_name)
    if status == "faithful":
        return True
    if status.startswith("partial: not for values that reach "):
        return status[len("partial: not for values that reach "):].split()[0] not in reached
    if status.startswith("partial: parse only"):
        return mode == "parse"
    if status.startswith(("partial: as ", "contains ")):
        ref = status.split()[-1] if status.startswith("contains ") else status.split()[2]
        return construct_usable(spec, ref, reached, mode=mode)
    return False


def construct_module(spec: str) -> types.ModuleType:
    """The construct target for `spec` (``nd2kit._generated.construct.<spec>``)."""
    return importlib.import_module(f"nd2kit._generated.construct.{spec}")
