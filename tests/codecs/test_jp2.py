"""Legacy JPEG 2000 files (format notes §5): nd2kit's box codec against the official
Kaitai compiler's python and construct targets and nd2 0.12's box map reader, on
generated box trees, raw box sequences and the corpus file legacy16.nd2."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kaitaistruct import BytesIO, KaitaiStream
from nd2._readers._legacy.legacy_reader import legacy_nd2_chunkmap
from nd2kit._generated.fast import legacy_jp2 as F
from nd2kit._generated.kaitai.legacy_jp2 import LegacyJp2 as K

from nd2kit.codecs.jp2 import Box, build_legacy, read_legacy
from nd2kit.testing.strategies import (
    box_plain,
    construct_module,
    construct_usable,
    jp2_box_list_bytes,
    jp2_files,
    plain,
)

SPEC = "legacy_jp2"
C = construct_module(SPEC)
MAP_SIGNATURE = b"LABORATORY IMAGING ND BOX MAP 00"


def three_way_boxes(raw: bytes) -> Any:
    """A box sequence: fast, kaitai and (where the manifest allows) construct agree;
    the fast codec writes it back byte for byte."""
    fast = F.BoxList.parse(raw)
    ref = plain(fast)
    assert plain(K.BoxList(KaitaiStream(BytesIO(raw)))) == ref
    if construct_usable(SPEC, "legacy_jp2__box_list"):
        assert plain(C.legacy_jp2__box_list.parse(raw)) == ref
        for b in fast.boxes:  # and box by box (GreedyRange would hide a failing box)
            assert plain(C.legacy_jp2__box.parse(raw[b._pos:b._end_pos])) == plain(b)
    assert fast.to_bytes() == raw
    return fast


def three_way_file(buf: bytes) -> dict[str, Any]:
    """Fast and kaitai agree on trailer, box map and boxes; construct (whose top-level
    struct uses _io and is rendered as Error) on each of them separately."""
    assert not construct_usable(SPEC, "legacy_jp2")
    fast = F.LegacyJp2.parse(buf)
    kai = K.from_bytes(buf)
    ref = {"trailer": plain(fast.trailer), "box_map": plain(fast.box_map),
           "boxes": plain(fast.boxes)}
    assert {"trailer": plain(kai.trailer), "box_map": plain(kai.box_map),
            "boxes": plain(kai.boxes)} == ref
    assert construct_usable(SPEC, "legacy_jp2__box_map_trailer")
    assert construct_usable(SPEC, "legacy_jp2__box_map")
    trailer = C.legacy_jp2__box_map_trailer.parse(buf[-40:])
    assert plain(trailer) == ref["trailer"]
    assert C.legacy_jp2__box_map_trailer.build(trailer) == buf[-40:]
    map_at = len(buf) - fast.trailer.distance
    bmap = C.legacy_jp2__box_map.parse(buf[map_at:])
    assert plain(bmap) == ref["box_map"]
    # box map entries have no derived field: construct rebuilds each one
    assert construct_usable(SPEC, "legacy_jp2__box_map_entry", mode="build")
    for i, e in enumerate(bmap.entries):
        at = map_at + 4 + 16 * i
        assert C.legacy_jp2__box_map_entry.build(e) == buf[at:at + 16]
        assert F.BoxMapEntry(**plain(e)).to_bytes() == buf[at:at + 16]
    assert plain(three_way_boxes(buf[:map_at])) == ref["boxes"]
    return ref


def _nd2_map(entries: list[tuple[str, str, int]]) -> dict[bytes, list[int]]:
    """nd2 0.12's view of the box map: box type for jP/ftyp/jp2h, else the LIM tag."""
    d: dict[bytes, list[int]] = {}
    for btype, tag, off in entries:
        key = btype if btype in ("jP  ", "ftyp", "jp2h") else tag
        d.setdefault(key.encode("ascii"), []).append(off)
    return d


# --------------------------------------------------------------------------- generated


@given(jp2_files())
def test_generated_roundtrip(boxes: list[Box]) -> None:
    buf = build_legacy(boxes)
    f = read_legacy(buf)
    assert [box_plain(b) for b in f.boxes] == [box_plain(b) for b in boxes]
    assert build_legacy(f.boxes) == buf
    assert [(t, g) for t, g, _ in f.entries] == [(b.box_type, b.tag or b.box_type) for b in boxes]
    assert [o for _, _, o in f.entries] == [b.offset for b in f.boxes]
    assert f.map_offset == sum(len(b.encode()) for b in boxes)
    assert [b.payload for b in f.by_tag("LUNK")] == [
        b.payload for b in boxes if (b.tag or b.box_type) == "LUNK"]
    assert legacy_nd2_chunkmap(io.BytesIO(buf)) == _nd2_map(f.entries)


@given(jp2_files())
def test_generated_three_parsers_agree(boxes: list[Box]) -> None:
    buf = build_legacy(boxes)
    ref = three_way_file(buf)
    assert len(ref["boxes"]["boxes"]) == len(boxes)


@given(jp2_box_list_bytes())
def test_raw_box_lists_all_parsers_agree(raw: bytes) -> None:
    # every length form: plain, extended (len 1 + u64), short (2..7) and 0 ("to the end")
    three_way_boxes(raw)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF),
       st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_image_header_all_parsers(h: int, w: int, nc: int, bpc: int, c: int, u: int,
                                  ipr: int) -> None:
    b = struct.pack(">IIHBBBB", h, w, nc, bpc, c, u, ipr)
    fast = F.ImageHeader.parse(b)
    ref = plain(fast)
    assert ref == {"height": h, "width": w, "num_components": nc, "bpc_minus_one": bpc,
                   "compression_type": c, "colourspace_unknown": u, "ipr": ipr}
    assert plain(K.ImageHeader(KaitaiStream(BytesIO(b)))) == ref
    assert construct_usable(SPEC, "legacy_jp2__image_header")
    parsed = C.legacy_jp2__image_header.parse(b)
    assert plain(parsed) == ref
    assert C.legacy_jp2__image_header.build(parsed) == b == fast.to_bytes()


# --------------------------------------------------------------------------- corpus


@pytest.mark.corpus
def test_corpus_legacy16(corpus_dir: Path) -> None:
    buf = (corpus_dir / "synthetic" / "legacy16.nd2").read_bytes()
    ref = three_way_file(buf)
    f = read_legacy(buf)
    assert build_legacy(f.boxes) == buf  # documented in docs/codecs.md
    assert legacy_nd2_chunkmap(io.BytesIO(buf)) == _nd2_map(f.entries)
    assert [(e["box_type"], e["tag"], e["offset"]) for e in ref["box_map"]["entries"]] == f.entries
    jp2h = [b for b in f.boxes if b.box_type == "jp2h"]
    assert len(jp2h) == 1 and jp2h[0].children[0].box_type == "ihdr"
    ihdr = F.ImageHeader.parse(jp2h[0].children[0].payload)
    assert (ihdr.height, ihdr.width, ihdr.num_components, ihdr.bpc_minus_one) == (4, 6, 1, 15)
    assert len(f.by_tag("LUNK")) == 8 and len(f.by_tag("VCAL")) == 4
    assert all(b.payload[:4] == b"\xff\x4f\xff\x51" for b in f.by_tag("LUNK"))


# ------------------------------------------------------------- known bugs and regressions


def _some_boxes() -> list[Box]:
    return [Box("jP  ", b"\r\n\x87\n"), Box("ftyp", b"jp2 \x00\x00\x00\x00jp2 "),
            Box("jp2h", children=[Box("ihdr", struct.pack(">IIHBBBB", 4, 6, 1, 15, 7, 0, 0))]),
            Box("xml ", b"<variant/>", tag="VIMD"), Box("jp2c", b"\xff\x4f\xff\x51", tag="LUNK")]


def test_construct_box_structs_only_if_manifest_says_so() -> None:
    # regression (construct target): legacy_jp2__box used to render a `?:` size as a
    # Python conditional evaluated once at import (a normal box failed with TypeError and
    # box_list, a GreedyRange, silently returned no boxes) while marked faithful
    buf = build_legacy(_some_boxes())
    fast = F.LegacyJp2.parse(buf)
    raw = buf[: len(buf) - fast.trailer.distance]
    try:
        agree = plain(C.legacy_jp2__box_list.parse(raw)) == plain(fast.boxes) and all(
            plain(C.legacy_jp2__box.parse(raw[b._pos:b._end_pos])) == plain(b)
            for b in fast.boxes.boxes)
    except Exception:
        agree = False
    assert agree or not construct_usable(SPEC, "legacy_jp2__box")
    assert agree or not construct_usable(SPEC, "legacy_jp2__box_list")


def _longer_ihdr_file() -> tuple[bytes, bytes]:
    """A legacy file whose jp2h holds an ihdr box with a 15-byte body."""
    body = struct.pack(">IIHBBBB", 4, 6, 1, 15, 7, 0, 0) + b"\x07"
    ihdr = struct.pack(">I", 8 + len(body)) + b"ihdr" + body
    jp2h = struct.pack(">I", 8 + len(ihdr)) + b"jp2h" + ihdr
    buf = struct.pack(">I", 12) + b"jP  \r\n\x87\n" + jp2h
    bmap = (struct.pack(">I", 2) + b"jP  jP  " + struct.pack("<Q", 0)
            + b"jp2hjp2h" + struct.pack("<Q", 12))
    return buf + bmap + MAP_SIGNATURE + struct.pack("<Q", len(bmap) + 40), body


def test_box_with_longer_ihdr_body_roundtrips() -> None:
    # regression (template): an ihdr body longer than the 14-byte image header used to
    # be written back as 14 bytes under the stored len (corrupt output), and
    # read_legacy dropped the extra bytes
    buf, body = _longer_ihdr_file()
    three_way_file(buf)
    f = read_legacy(buf)
    assert f.boxes[1].children[0].payload == body


def test_build_legacy_with_longer_ihdr_body() -> None:
    buf, _ = _longer_ihdr_file()
    assert build_legacy(read_legacy(buf).boxes) == buf


# ----------------------------------------------------------------------------- signature box

#: ISO/IEC 15444-1 I.5.1: the JPEG 2000 signature box, written out independently of the spec
ISO_SIGNATURE_BOX = b"\x00\x00\x00\x0c" + b"jP  " + b"\x0d\x0a\x87\x0a"


def test_signature_box_is_the_iso_one() -> None:
    from nd2kit.codecs import container, jp2

    assert jp2.JP2_SIGNATURE_BOX == ISO_SIGNATURE_BOX
    assert container.JP2_MAGIC_BYTES == ISO_SIGNATURE_BOX[:4]
    assert jp2.MAP_SIGNATURE == MAP_SIGNATURE
    jp2.check_signature(ISO_SIGNATURE_BOX + b"more")
    k = K.SignatureBox(KaitaiStream(BytesIO(ISO_SIGNATURE_BOX)))
    assert (k.len, k.box_type, k.signature) == (12, b"jP  ", b"\r\n\x87\n")
    if construct_usable(SPEC, "legacy_jp2__signature_box"):
        assert C.legacy_jp2__signature_box.build(C.legacy_jp2__signature_box.parse(ISO_SIGNATURE_BOX)) \
            == ISO_SIGNATURE_BOX


@given(st.integers(0, 11), st.integers(1, 255))
def test_signature_box_any_wrong_byte_is_located(k: int, flip: int) -> None:
    from nd2kit import CorruptChunkError
    from nd2kit.codecs import jp2

    bad = bytearray(ISO_SIGNATURE_BOX)
    bad[k] ^= flip
    with pytest.raises(CorruptChunkError) as ei:
        jp2.check_signature(bytes(bad))
    assert ei.value.chunk == "jP  "
    assert ei.value.offset == k // 4 * 4  # the field holding the wrong byte
    with pytest.raises(Exception):  # noqa: B017 - the reference parser rejects it too
        K.SignatureBox(KaitaiStream(BytesIO(bytes(bad))))


def test_signature_box_truncated() -> None:
    from nd2kit import CorruptChunkError
    from nd2kit.codecs import jp2

    for n in range(12):
        with pytest.raises(CorruptChunkError):
            jp2.check_signature(ISO_SIGNATURE_BOX[:n])


@given(st.binary(max_size=40), st.sampled_from([b"jp2c", b"xml ", b"uuid"]))
def test_box_header_len_from_the_spec(body: bytes, btype: bytes) -> None:
    from nd2kit.codecs import jp2

    short = struct.pack(">I", 8 + len(body)) + btype + body
    ext = struct.pack(">I", 1) + btype + struct.pack(">Q", 16 + len(body)) + body
    for raw, head in ((short, 8), (ext, 16)):
        b = jp2.parse_box(raw, 0, len(raw))
        assert b.header_len == head
        assert (b._pos, b._end_pos, b.box_type) == (0, len(raw), btype.decode())
        kb = K.Box(KaitaiStream(BytesIO(raw)))
        assert (kb.len_ext if kb.len == 1 else kb.len) - head == len(body)
        lf = read_legacy(build_legacy([Box(btype.decode(), body)]))
        assert lf.boxes[0].payload == body
