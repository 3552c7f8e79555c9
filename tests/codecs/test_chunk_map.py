"""Chunk map, chunk headers and trailer (format notes §1.2, §1.5): nd2kit's fast codecs
(vectorised table parser and sequential records) against the official Kaitai
compiler's python and construct targets, and against nd2 0.12's chunk map reader."""

from __future__ import annotations

import importlib
import io
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CORPUS, corpus_files
from hypothesis import given, settings
from hypothesis import strategies as st
from kaitaistruct import BytesIO, KaitaiStream
from nd2._parse._chunk_decode import get_chunkmap
from nd2kit._generated.fast import nd2_container as F
from nd2kit._generated.kaitai.nd2_container import Nd2Container as K

from nd2kit import ChunkNotFoundError, Nd2Error
from nd2kit.codecs import container
from nd2kit.codecs.chunk_map import ChunkRef, build_chunk_map_body, parse_chunk_map
from nd2kit.testing.strategies import (
    FILEMAP_NAME,
    MAP_SIGNATURE,
    U32,
    U64,
    GenChunkMap,
    chunk_maps,
    construct_module,
    construct_usable,
    manifest,
    plain,
    u64_fields,
)

SPEC = "nd2_container"
C = construct_module(SPEC)
MAGIC = b"\xda\xce\xbe\x0a"


def map_file(body: bytes, pad: int = 0) -> bytes:
    """A minimal modern file around a map body: signature chunk, map chunk (payload =
    body + zeros + trailer copy, as writers lay it out), written with ``struct``."""
    sig = MAGIC + struct.pack("<IQ", 32, 64) + b"ND2 FILE SIGNATURE CHUNK NAME01!"
    sig += b"Ver3.0".ljust(64, b"\0")
    map_off = len(sig)
    trailer = MAP_SIGNATURE.encode() + struct.pack("<Q", map_off)
    payload = body + bytes(pad) + trailer
    name = FILEMAP_NAME.encode()
    return sig + MAGIC + struct.pack("<IQ", len(name), len(payload)) + name + payload


def _table_entries(body: bytes) -> tuple[list[bytes], list[tuple[int, int]], int]:
    tb = F.parse_chunk_map_table(body, 0, len(body))
    names = [body[s:e] for s, e in zip(tb.name_start.tolist(), tb.name_end.tolist())]
    fields = [(int(r["offset"]), int(r["size"])) for r in tb.fields]
    return names, fields, int(tb.end_fields["offset"][0])


def three_way_map(body: bytes) -> dict[str, Any]:
    """Fast sequential parse, kaitai and construct agree on a chunk_map payload; the
    vectorised table parser agrees with the sequential one."""
    fast = F.ChunkMap.parse(body)
    ref = plain(fast)
    assert plain(K.ChunkMap(KaitaiStream(BytesIO(body)))) == ref
    if construct_usable(SPEC, "nd2_container__chunk_map"):
        assert plain(C.nd2_container__chunk_map.parse(body)) == ref
    names, fields, end_value = _table_entries(body)
    entries = fast.entries
    assert names == [e.name.encode("ascii") for e in entries[:-1]]
    assert fields == [(e.offset, e.size) for e in entries[:-1]]
    assert end_value == entries[-1].offset and entries[-1].is_end
    assert fast.to_bytes() == body
    return ref


# --------------------------------------------------------------------------- generated


@given(chunk_maps(), st.integers(0, 64))
def test_generated_three_parsers_agree(gm: GenChunkMap, pad: int) -> None:
    body = gm.body() + bytes(pad)
    ref = three_way_map(body)
    want = [{"name": n, "offset": o, "size": s}
            for n, o, s in zip(gm.names, gm.offsets, gm.stored_sizes)]
    want.append({"name": MAP_SIGNATURE, "offset": gm.end_value})
    assert ref["entries"] == want


@given(chunk_maps())
def test_generated_fast_table_roundtrip(gm: GenChunkMap) -> None:
    # the vectorised table codec over the full u64 range
    body = gm.body()
    names, fields, end_value = _table_entries(body)
    assert names == [n.encode() for n in gm.names]
    assert fields == list(zip(gm.offsets, gm.stored_sizes))
    assert end_value == gm.end_value
    arr = np.array(fields, dtype=F._TB_DTYPE) if fields else np.zeros(0, F._TB_DTYPE)
    end = np.array([(gm.end_value,)], dtype=F._TB_END_DTYPE)
    assert F.build_chunk_map_table(names, arr, end) == body


@given(chunk_maps(), st.integers(0, 40))
def test_generated_public_api_roundtrip(gm: GenChunkMap, pad: int) -> None:
    body = build_chunk_map_body(gm.names, gm.offsets, gm.sizes, gm.end_value)
    assert body == gm.body()
    base = 12345
    last = {n: i for i, n in enumerate(gm.names)}
    fresh = parse_chunk_map(body + bytes(pad), base=base)
    for _ in range(2):  # the first 16 lookups search the raw bytes, later ones a dict
        for n, i in list(last.items())[:12]:
            assert n in fresh
            assert fresh[n] == ChunkRef(gm.offsets[i], gm.sizes[i])
    assert "no such chunk!" not in fresh
    with pytest.raises(ChunkNotFoundError):
        fresh["no such chunk!"]
    cm = parse_chunk_map(body + bytes(pad), base=base)
    assert cm.names == gm.names
    assert cm.offsets.tolist() == gm.offsets
    assert cm.sizes.tolist() == gm.sizes
    assert cm.stored_sizes.tolist() == gm.stored_sizes
    assert cm.end_value == gm.end_value
    starts, pos = [], 0
    for n in gm.names:
        starts.append(base + pos)
        pos += len(n) + 16
    assert cm.entry_positions().tolist() == starts
    assert list(cm) == list(last) and len(cm) == len(last)
    counts = Counter(gm.names)
    assert cm.duplicates == sorted(n for n, c in counts.items() if c > 1)
    want = {n: ChunkRef(gm.offsets[i], gm.sizes[i]) for n, i in last.items()}
    assert {n: cm[n] for n in cm} == want


@given(chunk_maps(max_bulk=600), st.integers(0, 40))
def test_generated_read_chunk_map_matches_nd2(gm: GenChunkMap, pad: int) -> None:
    f = map_file(gm.body(), pad)
    map_offset, cm = container.read_chunk_map(f)
    ref = get_chunkmap(io.BytesIO(f))  # nd2: {name bytes: (offset, size or -1)}
    assert map_offset == 112
    assert [(k.encode("latin-1"), tuple(cm[k])) for k in cm] == list(ref.items())


@given(st.integers(0, U32), st.integers(0, U64))
def test_chunk_header_all_parsers_and_construct_build(name_len: int, data_len: int) -> None:
    b = MAGIC + struct.pack("<IQ", name_len, data_len)
    fast = F.ChunkHeader.parse(b)
    assert fast.to_bytes() == b
    assert F.ChunkHeader(magic=MAGIC, name_len=name_len, data_len=data_len).to_bytes() == b
    ref = plain(fast)
    assert ref == {"magic": MAGIC, "name_len": name_len, "data_len": data_len}
    assert plain(K.ChunkHeader(KaitaiStream(BytesIO(b)))) == ref
    assert construct_usable(SPEC, "nd2_container__chunk_header")
    parsed = C.nd2_container__chunk_header.parse(b)
    assert plain(parsed) == ref
    assert C.nd2_container__chunk_header.build(parsed) == b
    assert C.nd2_container__chunk_header.build(ref) == b


@given(u64_fields())
def test_map_trailer_all_parsers_and_construct_build(map_offset: int) -> None:
    b = MAP_SIGNATURE.encode() + struct.pack("<Q", map_offset)
    fast = F.MapTrailer.parse(b)
    assert fast.map_offset == map_offset and fast.to_bytes() == b
    ref = plain(fast)
    assert plain(K.MapTrailer(KaitaiStream(BytesIO(b)))) == ref
    assert construct_usable(SPEC, "nd2_container__map_trailer")
    assert plain(C.nd2_container__map_trailer.parse(b)) == ref
    assert C.nd2_container__map_trailer.build(ref) == b


@given(chunk_maps(max_bulk=0))
def test_map_entries_construct_build(gm: GenChunkMap) -> None:
    # chunk_map_entry has no derived field. construct parses each entry (and the end
    # marker, whose `size` is absent); building is checked as far as the manifest allows
    parse = C.nd2_container__chunk_map_entry.parse
    build = C.nd2_container__chunk_map_entry.build
    can_build = construct_usable(SPEC, "nd2_container__chunk_map_entry", mode="build")
    assert construct_usable(SPEC, "nd2_container__chunk_map_entry", mode="parse")
    for n, o, s in zip(gm.names, gm.offsets, gm.stored_sizes):
        want = n.encode() + struct.pack("<QQ", o, s)
        assert F.ChunkMapEntry(name=n, offset=o, size=s).to_bytes() == want
        parsed = parse(want)
        assert plain(parsed) == {"name": n, "offset": o, "size": s}
        if can_build:
            assert build(parsed) == want
        else:
            # manifest "partial: parse only": NullTerminated(include=True) writes the
            # terminator after a name that already ends with it (the note is true) ...
            assert build(parsed) == n.encode() + b"!" + want[len(n):]
            # ... and everything else builds to the same bytes
            assert build({"name": n[:-1], "offset": o, "size": s}) == want
    end = MAP_SIGNATURE.encode() + struct.pack("<Q", gm.end_value)
    assert plain(parse(end)) == {"name": MAP_SIGNATURE, "offset": gm.end_value}
    assert F.ChunkMapEntry(name=MAP_SIGNATURE, offset=gm.end_value, size=None).to_bytes() == end
    if can_build:
        assert build(parse(end)) == end


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="!"),
               min_size=1, max_size=40),
       st.integers(0, 64), st.binary(max_size=64))
def test_chunk_all_parsers(stem: str, extra: int, data: bytes) -> None:
    name = stem + "!"
    name_len = len(name) + extra
    b = MAGIC + struct.pack("<IQ", name_len, len(data)) + name.encode() + bytes(extra) + data
    fast = F.Chunk.parse(b)
    assert fast.name == name and bytes(fast.data) == data and fast.to_bytes() == b
    ref = plain(fast)
    assert plain(K.Chunk(KaitaiStream(BytesIO(b)))) == ref
    if construct_usable(SPEC, "nd2_container__chunk"):
        assert plain(C.nd2_container__chunk.parse(b)) == ref
    info = container.read_chunk(b, 0, expect=name)
    assert (info.name, info.name_len, info.data_len, info.data_offset) == (
        name, name_len, len(data), 16 + name_len)


# --------------------------------------------------------------------------- corpus

MODERN = [p for p in corpus_files() if p.read_bytes()[:4] == MAGIC]


def _id(p: Path) -> str:
    return p.relative_to(CORPUS).as_posix()


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=_id)
def test_corpus_chunk_map_matches_nd2(path: Path) -> None:
    import nd2

    buf = path.read_bytes()
    _, cm = container.read_chunk_map(buf)
    with nd2.ND2File(path) as f:
        ref = f._rdr.chunkmap
    assert [(k.encode("latin-1"), tuple(cm[k])) for k in cm] == list(ref.items())


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=_id)
def test_corpus_three_parsers_agree(path: Path) -> None:
    buf = path.read_bytes()
    map_offset, cm = container.read_chunk_map(buf)
    kai = K.from_bytes(buf)
    stream = io.BytesIO(buf)

    def con(struct_: Any, pos: int) -> Any:
        stream.seek(pos)
        return struct_.parse_stream(stream)

    # trailer and signature chunk (+ construct build: no derived fields)
    trailer = F.MapTrailer.parse(buf, len(buf) - 40)
    assert trailer.map_offset == map_offset
    con_trailer = con(C.nd2_container__map_trailer, len(buf) - 40)
    assert plain(kai.trailer) == plain(trailer) == plain(con_trailer)
    assert C.nd2_container__map_trailer.build(con_trailer) == buf[-40:]
    sig = F.SignatureChunk.parse(buf, 0)
    assert plain(kai.signature) == plain(sig) == plain(con(C.nd2_container__signature_chunk, 0))
    # the map chunk: fast sequential, kaitai, construct; the table parser and the API
    fast_map = F.ChunkMapChunk.parse(buf, map_offset)
    ref = plain(fast_map)
    assert plain(kai.chunk_map) == ref
    assert construct_usable(SPEC, "nd2_container__chunk_map_chunk")
    assert plain(con(C.nd2_container__chunk_map_chunk, map_offset)) == ref
    body = bytes(fast_map.body.to_bytes())
    three_way_map(body)
    entries = ref["body"]["entries"][:-1]
    assert cm.names == [e["name"] for e in entries]
    assert cm.offsets.tolist() == [e["offset"] for e in entries]
    assert cm.sizes.tolist() == [-1 if e["size"] == e["offset"] else e["size"] for e in entries]
    # every chunk the map lists: header + name + payload, and the header rebuilt by construct
    kio = KaitaiStream(BytesIO(buf))
    for e in entries:
        off = e["offset"]
        fast = F.Chunk.parse(buf, off)
        kio.seek(off)
        kc = K.Chunk(kio, kai, kai)
        cc = con(C.nd2_container__chunk, off)
        assert plain(kc) == plain(fast) == plain(cc), e["name"]
        assert fast.name == e["name"]
        hdr = con(C.nd2_container__chunk_header, off)
        assert C.nd2_container__chunk_header.build(hdr) == buf[off:off + 16]
        info = container.read_chunk(buf, off, expect=e["name"])
        assert info.data_len == fast.header.data_len


# ------------------------------------------------------------- known bugs and regressions


def test_entry_named_bare_bang() -> None:
    # regression (template record_table): an entry named just "!" used to be rejected
    body = GenChunkMap(["!", "A!"], [1, 2], [3, 4], 99).body()
    assert plain(K.ChunkMap(KaitaiStream(BytesIO(body))))["entries"][0]["name"] == "!"
    assert get_chunkmap(io.BytesIO(map_file(body)))[b"!"] == (1, 3)
    cm = parse_chunk_map(body)
    assert cm.names == ["!", "A!"] and cm["!"] == ChunkRef(1, 3)
    three_way_map(body)


def test_name_ending_with_map_signature() -> None:
    # regression (template record_table): the end marker was found with
    # buf.find(signature), anywhere, so a name ending with it ended the map early
    name = "X" + MAP_SIGNATURE
    body = GenChunkMap([name, "A!"], [1, 2], [3, 4], 99).body()
    assert get_chunkmap(io.BytesIO(map_file(body))) == {name.encode(): (1, 3), b"A!": (2, 4)}
    three_way_map(body)
    assert parse_chunk_map(body)[name] == ChunkRef(1, 3)


def test_fields_and_next_name_spelling_map_signature() -> None:
    # regression: an entry's binary fields and the next name spelling the signature
    sig = MAP_SIGNATURE.encode()
    o, s = struct.unpack("<QQ", sig[:16])
    body = GenChunkMap(["A!", sig[16:].decode()], [o, 5], [s, 6], 99).body()
    assert len(get_chunkmap(io.BytesIO(map_file(body)))) == 2
    three_way_map(body)
    assert parse_chunk_map(body).names == ["A!", sig[16:].decode()]


def test_u64_sizes_public_api() -> None:
    # regression (codec API chunk_map): sizes >= 2**63 used to read back negative
    gm = GenChunkMap(["A!", "B!", "C!"], [4096, 8192, 5], [2**63, U64, 5], 0)
    body = gm.body()
    ref = dict(get_chunkmap(io.BytesIO(map_file(body))))
    assert ref == {b"A!": (4096, 2**63), b"B!": (8192, U64), b"C!": (5, -1)}
    cm = parse_chunk_map(body)
    assert cm["A!"] == ChunkRef(4096, 2**63) and cm["B!"] == ChunkRef(8192, U64)
    assert cm.sizes.tolist() == [2**63, U64, -1]
    assert build_chunk_map_body(gm.names, gm.offsets, gm.stored_sizes, 0) == body
    assert build_chunk_map_body(gm.names, gm.offsets, gm.sizes, 0) == body


@pytest.mark.parametrize("spec", ["nd2_container", "legacy_jp2", "lite_variant", "binary_rle"])
def test_construct_modules_import(spec: str) -> None:
    # regression (construct target): nd2_container and legacy_jp2 evaluated
    # `stream_size(_io)` at module level and raised NameError on import
    mod = importlib.import_module(f"nd2kit._generated.construct.{spec}")
    assert set(manifest()["construct"][spec]) <= set(vars(mod))


@given(st.integers(0, 6), st.integers(0, 6), st.booleans(), st.binary(max_size=8),
       st.floats(allow_nan=False))
def test_image_frame_construct_only_if_manifest_says_so(h: int, wb: int, compressed: bool,
                                                        tail: bytes, ts: float) -> None:
    b = struct.pack("<d", ts) + (tail if compressed else bytes(range(h * wb)))
    fast = F.ImageFrame.parse(b, height=h, width_bytes=wb, compressed=compressed)
    kai = K.ImageFrame(h, wb, compressed, KaitaiStream(BytesIO(b)))
    params = {"height": h, "width_bytes": wb, "compressed": compressed}
    assert plain(kai) == {**params, **plain(fast)}  # kaitai keeps params as attributes
    assert fast.to_bytes() == b
    try:
        parsed = C.nd2_container__image_frame.parse(b, height=h, width_bytes=wb,
                                                    compressed=compressed)
        agree = plain(parsed) == plain(fast)
    except Exception:
        agree = False
    assert agree or not construct_usable(SPEC, "nd2_container__image_frame")


@settings(max_examples=200)
@given(gm=chunk_maps())
def test_small_and_vectorized_table_paths_agree(gm) -> None:
    """The sequential (small-table) and the vectorised parse give the same table."""
    body = gm.body()
    a = F.parse_chunk_map_table(body, 0, len(body), vectorized=False)
    b = F.parse_chunk_map_table(body, 0, len(body), vectorized=True)
    assert a.name_start.tolist() == b.name_start.tolist()
    assert a.name_end.tolist() == b.name_end.tolist()
    assert a.fields.tobytes() == b.fields.tobytes()
    assert (a.end_pos, a.stop, a.end_fields.tobytes()) == (b.end_pos, b.stop, b.end_fields.tobytes())
    # the list-based parse (small maps, no numpy) finds the same entries and values
    c = F.parse_chunk_map_rows(body, 0, len(body))
    assert c.name_start == b.name_start.tolist() and c.name_end == b.name_end.tolist()
    assert c.fields == [tuple(r) for r in b.fields.tolist()]
    assert (c.end_pos, c.stop, c.end_fields) == (b.end_pos, b.stop, tuple(b.end_fields.tolist()[0]))


@settings(max_examples=100)
@given(gm=chunk_maps(max_bulk=40))
def test_small_maps_built_from_lists_equal_array_maps(gm) -> None:
    """A map parsed into lists behaves exactly like one parsed into arrays."""
    from nd2kit.codecs import chunk_map as cm_mod

    body = gm.body()
    small = parse_chunk_map(body)
    assert small._lists is not None or len(body) > cm_mod._SMALL
    tb = F.parse_chunk_map_table(body, 0, len(body), vectorized=True)
    big = cm_mod.ChunkMap(body, tb.name_start, tb.name_end, tb.fields["offset"].astype("u8"),
                          tb.fields["size"].astype("u8"), int(tb.end_fields["offset"][0]))
    for n in big.names[:20]:  # lookups before any listing search the raw bytes
        fresh = parse_chunk_map(body)
        assert n in fresh and fresh[n] == big[n]
        assert fresh._index is None or len(body) > cm_mod._SMALL
        for other in (n[1:], n[:-1], n + "!", "x" + n):  # near misses
            fresh = parse_chunk_map(body)
            assert (other in fresh) == (other in big.names)
    assert small.names == big.names and list(small) == list(big)
    assert [small[n] for n in small] == [big[n] for n in big]
    assert small.offsets.tolist() == big.offsets.tolist()
    assert small.sizes.tolist() == big.sizes.tolist()
    assert small.end_value == big.end_value
    for prefix in ("ImageDataSeq|", "CustomData|"):
        a, b = small.sequence(prefix), big.sequence(prefix)
        assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()


def _unpackable_types() -> list[tuple[type, bytes]]:
    import importlib
    import inspect

    leads = {"ChunkHeader": container.CHUNK_MAGIC_BYTES, "MapTrailer": MAP_SIGNATURE.encode(),
             "SignatureChunk": container.CHUNK_MAGIC_BYTES + struct.pack("<IQ", 32, 64)
             + b"ND2 FILE SIGNATURE CHUNK NAME01!"}
    out = []
    for m in ("binary_rle", "legacy_jp2", "lite_variant", "nd2_container"):
        mod = importlib.import_module(f"nd2kit._generated.fast.{m}")
        for name, cls in vars(mod).items():
            if inspect.isclass(cls) and "unpack" in vars(cls):
                out.append((cls, leads.get(name, b"")))
    return out


UNPACKABLE = _unpackable_types()


def test_unpack_is_generated_for_the_open_path_types() -> None:
    names = {c.__name__ for c, _ in UNPACKABLE}
    assert {"ChunkHeader", "MapTrailer", "SignatureChunk"} <= names


@settings(max_examples=300)
@given(data=st.binary(max_size=120), pos=st.integers(0, 8), lead=st.booleans(),
       which=st.integers(0, len(UNPACKABLE) - 1))
def test_generated_unpack_equals_parse(data: bytes, pos: int, lead: bool, which: int) -> None:
    """``unpack`` (no node built; types without nested types, params or instances)
    gives the parse's field values, and fails with the same error class, message and
    offset."""
    cls, head = UNPACKABLE[which]
    buf = bytes(pos) + (head if lead else b"") + data
    try:
        node = cls.parse(buf, pos)
    except Nd2Error as e:
        with pytest.raises(type(e)) as got:
            cls.unpack(buf, pos)
        assert (str(got.value), got.value.offset) == (str(e), e.offset)
    else:
        got = cls.unpack(buf, pos)
        want = tuple(getattr(node, f) for f in cls.FIELDS)
        assert repr(got) == repr(want)


@pytest.mark.parametrize("n", [3, 2000])
def test_lookups_of_impossible_names_end(n: int) -> None:
    """Names no entry can have (empty, no "!") are simply absent, for small (list) and
    large (array) maps alike; searching the raw bytes must not loop."""
    names = [f"ImageDataSeq|{i}!" for i in range(n)]
    body = build_chunk_map_body(names, list(range(0, 4096 * n, 4096)), [10] * n, 0)
    for name in ("", "!", "ImageDataSeq|", "mageDataSeq|1!", "é!"):
        assert name not in parse_chunk_map(body)
    assert parse_chunk_map(body)[names[-1]] == ChunkRef(4096 * (n - 1), 10)


def test_chunk_head_name_must_fit_its_name_field() -> None:
    """The expected name found in the bytes counts only inside ``name_len`` (the
    fast comparison in parse_chunk_head must not read past the name field)."""
    name = b"ImageAttributesLV!"
    for name_len, ok in ((len(name), True), (len(name) + 40, True), (len(name) - 1, False)):
        head = container.CHUNK_MAGIC_BYTES + struct.pack("<IQ", name_len, 4) + name + bytes(64)
        if ok:
            info = container.parse_chunk_head(head, 0, 4096, expect=name.decode())
            assert (info.name, info.name_len, info.data_offset) == (name.decode(), name_len, 16 + name_len)
        else:
            with pytest.raises(Nd2Error, match="expected chunk"):
                container.parse_chunk_head(head, 0, 4096, expect=name.decode())
    # a name with a second "!" takes the general path and is compared as read
    with pytest.raises(Nd2Error, match="expected chunk"):
        container.parse_chunk_head(container.CHUNK_MAGIC_BYTES + struct.pack("<IQ", 8, 0) + b"A!B!" + bytes(8),
                                   0, 4096, expect="A!B!")


# ----------------------------------------------------------------------------- payload location


_chunk_items = st.lists(
    st.tuples(st.integers(0, 10**6).map(lambda n: f"ImageDataSeq|{n}!"), st.binary(max_size=64),
              st.sampled_from([None, 0, 8])),
    max_size=6, unique_by=lambda t: t[0])


@given(_chunk_items, st.data())
def test_locate_payloads_agrees_with_read_chunk(items: list[Any], data: st.DataObject) -> None:
    items = [(n, p, 8 if k == 8 and len(p) >= 8 else None) for n, p, k in items]
    f = bytearray(container.build_file([(n, p) if k is None else (n, p, k) for n, p, k in items]))
    _, cmap = container.read_chunk_map(bytes(f))
    offs = [cmap[n].offset for n, _, _ in items]
    # damage some headers: bad magic, or a name_len that runs past the end
    bad = set()
    for i, o in enumerate(offs):
        how = data.draw(st.sampled_from(["ok", "ok", "magic", "name_len"]))
        if how == "magic":
            f[o] ^= 0xFF
            bad.add(i)
        elif how == "name_len":
            f[o + 4 : o + 8] = struct.pack("<I", len(f))
            bad.add(i)
    buf = bytes(f)
    got, lens = container.locate_payloads(buf, np.asarray(offs + [len(buf) + 5, -1], np.int64))
    assert got[-2:].tolist() == [-1, -1] and lens[-2:].tolist() == [-1, -1]
    for i, ((name, payload, _), o) in enumerate(zip(items, offs)):
        if i in bad:
            assert (got[i], lens[i]) == (-1, -1)
            with pytest.raises(Nd2Error):
                container.read_chunk(buf, o, expect=name)
            continue
        ci = container.read_chunk(buf, o, expect=name)
        assert (got[i], lens[i]) == (ci.data_offset, ci.data_len)
        assert buf[ci.data_offset : ci.end] == payload
        h = container.read_header(buf, o)
        assert h == (ci.name_len, ci.data_len, ci.data_offset)
        assert container.payload_offset(o, ci.name_len) == ci.data_offset
        k = K.Chunk(KaitaiStream(BytesIO(buf[o:])))  # the reference parser's payload
        assert k.data == payload


def test_locate_payloads_min_len_and_empty() -> None:
    f = container.build_file([("ImageDataSeq|0!", b"x" * 16, 8), ("ImageDataSeq|1!", b"y" * 4)])
    _, cmap = container.read_chunk_map(f)
    offs = [cmap["ImageDataSeq|0!"].offset, cmap["ImageDataSeq|1!"].offset]
    got, lens = container.locate_payloads(f, offs, min_len=8)
    assert lens.tolist() == [16, -1] and got[1] == -1 and got[0] > 0
    e1, e2 = container.locate_payloads(f, [])
    assert e1.shape == e2.shape == (0,)


def test_parse_header_errors_are_located() -> None:
    with pytest.raises(Nd2Error) as ei:
        container.parse_header(b"\0" * 16, 4096, chunk="X!")
    assert (ei.value.chunk, ei.value.offset) == ("X!", 4096)
    with pytest.raises(Nd2Error) as ei:
        container.read_header(container.CHUNK_MAGIC_BYTES + b"\0" * 4, 0)
    assert ei.value.offset == 4


@pytest.mark.parametrize("version", ["Ver3.0", "Ver2.1", "Ver3.1"])
def test_version_offset_and_string(version: str) -> None:
    f = container.build_file([("A!", b"")], version=version)
    assert container.version_string(f) == version
    assert f[container.VERSION_OFFSET : container.VERSION_OFFSET + len(version)] == version.encode()
    k = K.SignatureChunk(KaitaiStream(BytesIO(f)))
    assert k.version.rstrip(b"\0").decode() == version
    assert container.SIGNATURE_SIZE == k._io.pos()
    assert container.sniff_version(f) == (int(version[3]), int(version[5]))
    assert container.version_string(f[: container.SIGNATURE_SIZE - 1]) is None


def test_bad_version_is_reported_at_the_version_field() -> None:
    f = bytearray(container.build_file([("A!", b"")], version="Verx.y"))
    with pytest.raises(Nd2Error) as ei:
        container.read_signature(bytes(f))
    assert ei.value.offset == container.VERSION_OFFSET == 0x30


@given(st.binary(max_size=300), st.integers(0, 3))
def test_inflate_frame_exact_size(pixels: bytes, extra: int) -> None:
    import zlib

    z = zlib.compress(pixels)
    assert container.inflate_frame(z, len(pixels)) == pixels
    if len(pixels) > extra:
        with pytest.raises(Nd2Error, match="inflates to more than"):
            container.inflate_frame(z, len(pixels) - 1 - extra, chunk="F!", offset=9)
    with pytest.raises(Nd2Error, match=f"expected {len(pixels) + 1 + extra}"):
        container.inflate_frame(z, len(pixels) + 1 + extra)
    with pytest.raises(Nd2Error) as ei:
        container.inflate_frame(b"junk" + z, len(pixels), chunk="F!", offset=9)
    assert (ei.value.chunk, ei.value.offset) == ("F!", 9)


@given(st.integers(0, 6), st.integers(0, 6), st.binary(max_size=8))
def test_frame_timestamp_size_is_the_spec_field(h: int, wb: int, tail: bytes) -> None:
    b = struct.pack("<d", -1.0) + tail
    fast = F.ImageFrame.parse(b, height=h, width_bytes=wb, compressed=True)
    assert bytes(fast.zlib_stream) == b[container.FRAME_TIMESTAMP_SIZE:]
    assert container.FRAME_TIMESTAMP_SIZE == 8


def test_frames_uses_the_registry_prefix() -> None:
    from nd2kit.codecs import names

    body = build_chunk_map_body(["ImageDataSeq|2!", "X!", "ImageDataSeq|0!"], [1, 2, 3], [0, 0, 0], 0)
    cmap = parse_chunk_map(body)
    numbers, rows = cmap.frames()
    assert numbers.tolist() == [0, 2] and rows.tolist() == [2, 0]
    assert names.FRAME_PREFIX == "ImageDataSeq|"


@given(st.lists(st.integers(0, 10**4).map(lambda n: f"ImageDataSeq|{n}!"), max_size=8, unique=True),
       st.integers(0, 2**40))
def test_field_positions_point_at_the_fields(entry_names: list[str], base: int) -> None:
    offs = [4096 * (i + 1) for i in range(len(entry_names))]
    sizes = [7 * i + 1 for i in range(len(entry_names))]
    body = build_chunk_map_body(entry_names, offs, sizes, 0)
    cmap = parse_chunk_map(body, base=base)
    for i, (o, s) in enumerate(zip(cmap.field_positions("offset").tolist(),
                                   cmap.field_positions("size").tolist())):
        assert struct.unpack_from("<Q", body, o - base)[0] == offs[i]
        assert struct.unpack_from("<Q", body, s - base)[0] == sizes[i]
        n = cmap.field_positions("name")[i] - base
        assert body[n : n + len(entry_names[i])] == entry_names[i].encode()
    with pytest.raises(ValueError):
        cmap.field_positions("nope")


def test_inflate_frame_require_end_and_label() -> None:
    import zlib

    z = zlib.compress(b"abcd" * 10)
    assert container.inflate_frame(z[:-4], 40) == b"abcd" * 10  # the reader's tolerance
    with pytest.raises(Nd2Error, match="frame 2: zlib stream incomplete"):
        container.inflate_frame(z[:-4], 40, label="frame 2", require_end=True)
    assert container.inflate_frame(z, 40, require_end=True) == b"abcd" * 10


@given(st.floats(allow_nan=False), st.binary(max_size=4))
def test_frame_timestamp(ts: float, tail: bytes) -> None:
    b = struct.pack("<d", ts) + tail
    assert container.frame_timestamp(b) == ts
    assert K.ImageFrame(0, 0, True, KaitaiStream(BytesIO(b))).timestamp == ts
    with pytest.raises(Nd2Error) as ei:
        container.frame_timestamp(b[:7], chunk="ImageDataSeq|0!", offset=4096)
    assert (ei.value.chunk, ei.value.offset) == ("ImageDataSeq|0!", 4096)


@settings(max_examples=200)
@given(st.lists(st.one_of(
    st.integers(0, 10**20).map(lambda n: f"ImageDataSeq|{n}!"),
    st.builds(lambda d: f"ImageDataSeq|{d}!", st.text("0123456789\u00b9\u00b2\u00b3x ", max_size=20)),
    st.just("ImageDataSeq!"), st.just("ImageDataSeq|!"), st.just("ImageDataSeq|007!"),
), max_size=40))
def test_sequence_of_a_small_map_equals_the_vectorised_one(entry_names: list[str]) -> None:
    """Small maps take a per-name path in ``sequence``: same numbers and rows as the
    vectorised path (ASCII digits only: latin-1's superscript digits are not numbers,
    18 digits at most, leading zeros allowed, a later duplicate wins)."""
    from nd2kit.codecs import chunk_map as cm_mod

    body = build_chunk_map_body(entry_names, list(range(0, 4096 * len(entry_names), 4096)),
                                [1] * len(entry_names), 0)
    small = parse_chunk_map(body)
    assert small._lists is not None
    tb = F.parse_chunk_map_table(body, 0, len(body), vectorized=True)
    big = cm_mod.ChunkMap(body, tb.name_start, tb.name_end, tb.fields["offset"].astype("u8"),
                          tb.fields["size"].astype("u8"), int(tb.end_fields["offset"][0]))
    assert big._lists is None
    a, b = small.sequence("ImageDataSeq|"), big.sequence("ImageDataSeq|")
    assert a[0].dtype == b[0].dtype == np.int64 and a[1].dtype == b[1].dtype == np.int64
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()


def _rows_outcome(fn: Any, buf: bytes, pos: int, end: int) -> Any:
    try:
        t = fn(buf, pos, end)
    except Nd2Error as e:
        return ("error", type(e).__name__, str(e), e.offset)
    return (t.name_start, t.name_end, t.fields, t.end_pos, t.end_fields, t.stop)


@settings(max_examples=200)
@given(gm=chunk_maps(max_bulk=30), cut=st.integers(0, 64), junk=st.binary(max_size=40),
       pos=st.integers(0, 3))
def test_compiled_small_map_parse_equals_the_generated_one(gm, cut: int, junk: bytes, pos: int) -> None:
    """The mypyc-compiled ``parse_chunk_map_rows`` (tools/native.py) returns what the
    generated one returns on whole, truncated and junk-framed tables, or raises the
    same error at the same offset. ``ND2KIT_REQUIRE_NATIVE=1`` (.ci/run) fails when it
    is not built."""
    import os

    from nd2kit.codecs import chunk_map as cm_mod

    if cm_mod._rows is F:
        msg = f"compiled chunk-map parse not in use: {cm_mod._ROWS}"
        if os.environ.get("ND2KIT_REQUIRE_NATIVE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    body = junk[:pos] + gm.body() + junk
    for end in (len(body), max(pos, len(body) - cut)):
        assert (_rows_outcome(cm_mod._rows.parse_chunk_map_rows, body, pos, end)
                == _rows_outcome(F.parse_chunk_map_rows, body, pos, end))
