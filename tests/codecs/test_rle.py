"""RLE binary-layer masks (format notes §6.1): nd2kit's encoder/decoder and fast codecs
against the official Kaitai compiler's python and construct targets and nd2 0.12's
``decode_binary_mask``, on generated label images, raw streams and the corpus."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CORPUS, corpus_files
from hypothesis import given
from hypothesis import strategies as st
from kaitaistruct import BytesIO, KaitaiStream
from nd2._binary import decode_binary_mask
from nd2kit._generated.fast import binary_rle as F
from nd2kit._generated.kaitai.binary_rle import BinaryRle as K

from nd2kit import CorruptChunkError
from nd2kit.codecs import container, rle
from nd2kit.codecs.rle import decode_rle_mask, encode_rle_mask
from nd2kit.testing.strategies import (
    construct_module,
    construct_usable,
    label_images,
    plain,
    rle_payload,
    rle_stream_bytes,
    rle_stream_models,
)

SPEC = "binary_rle"
C = construct_module(SPEC)
_OBJ_HDR = ("object_id", "left", "top", "right", "bottom", "object_bytes", "row_count",
            "last_row_offset", "status")


def _for_construct_build(model: dict[str, Any]) -> dict[str, Any]:
    """construct's Struct.build needs every key, `extra` included (None for v3)."""
    return {"header": model["header"],
            "objects": [{**o, "extra": o.get("extra")} for o in model["objects"]]}


def three_way_stream(stream: bytes) -> dict[str, Any]:
    """Fast, kaitai and construct parse an inflated stream alike; fast and construct
    rebuild it byte for byte (all counts are stored fields)."""
    fast = F.RleStream.parse(stream)
    ref = plain(fast)
    assert plain(K.RleStream(KaitaiStream(BytesIO(stream)))) == ref
    assert construct_usable(SPEC, "binary_rle__rle_stream")
    parsed = C.binary_rle__rle_stream.parse(stream)
    assert plain(parsed) == ref
    assert C.binary_rle__rle_stream.build(parsed) == stream
    assert fast.to_bytes() == stream
    return ref


def three_way_payload(payload: bytes) -> dict[str, Any]:
    """The whole payload (u32 + zlib): fast and kaitai (process: zlib); construct renders
    the top level as Error (manifest), so it is checked on the inflated stream."""
    assert not construct_usable(SPEC, "binary_rle")
    fast = F.BinaryRle.parse(payload)
    ref = plain(fast)
    assert plain(K.from_bytes(payload)) == ref
    assert fast.to_bytes() == payload
    assert three_way_stream(zlib.decompress(payload[4:])) == ref["stream"]
    return ref


# --------------------------------------------------------------------------- generated


@given(label_images(), st.sampled_from([3, 2]))
def test_generated_mask_roundtrip(mask: np.ndarray, version: int) -> None:
    p = encode_rle_mask(mask, version=version)
    out = decode_rle_mask(p)
    assert out is not None and out.dtype == np.uint32 and out.shape == mask.shape
    assert np.array_equal(out, mask)
    same = decode_rle_mask(p, dtype=mask.dtype)
    assert same.dtype == mask.dtype and np.array_equal(same, mask)
    # the derived fields the encoder writes (format §6.1)
    stream = zlib.decompress(p[4:])
    assert struct.unpack_from("<I", p)[0] == len(stream)
    s = F.RleStream.parse(stream)
    h = s.header
    labels = sorted(int(v) for v in np.unique(mask) if v)
    assert (h.version, h.width, h.height) == (version, mask.shape[1], mask.shape[0])
    assert h.object_count == len(labels) and h.custom_data_size == 0
    assert h.bytes_of_objects == len(stream) - 28
    assert h.last_object_offset == (s.objects[-1]._pos if s.objects else 0)
    for obj, label in zip(s.objects, labels):
        oh = obj.header
        ys, xs = np.nonzero(mask == label)
        assert oh.object_id == label
        assert (oh.left, oh.top, oh.right, oh.bottom) == (xs.min(), ys.min(), xs.max(), ys.max())
        assert oh.object_bytes == obj._end_pos - obj._pos
        assert oh.row_count == len(np.unique(ys)) == len(obj.rows)
        assert oh.last_row_offset == obj.rows[-1]._pos - obj._pos
        assert [r.y for r in obj.rows] == sorted(set(ys.tolist()))


@given(label_images(), st.sampled_from([3, 2]))
def test_generated_mask_three_parsers_agree(mask: np.ndarray, version: int) -> None:
    three_way_payload(encode_rle_mask(mask, version=version))


@given(rle_stream_models())
def test_stream_models_three_parsers_and_construct_build(model: dict[str, Any]) -> None:
    stream = rle_stream_bytes(model)
    assert three_way_stream(stream) == model
    assert C.binary_rle__rle_stream.build(_for_construct_build(model)) == stream
    # the layouts without derived fields, one by one (construct build == struct bytes)
    for part, name in ((model["header"], "binary_rle__rle_header"),):
        assert C.binary_rle__rle_header.build(part) == stream[:28], name
    for obj in model["objects"]:
        want = struct.pack("<9I", *(obj["header"][k] for k in _OBJ_HDR))
        assert construct_usable(SPEC, "binary_rle__rle_object_header")
        assert C.binary_rle__rle_object_header.build(obj["header"]) == want
        assert F.RleObjectHeader(**obj["header"]).to_bytes() == want
        for row in obj["rows"]:
            runs = b"".join(struct.pack("<2I", r["x"], r["length"]) for r in row["runs"])
            want = struct.pack("<2I", row["y"], row["run_count"]) + runs
            assert C.binary_rle__rle_row.build(row) == want
            for r in row["runs"]:
                assert C.binary_rle__rle_run.build(r) == struct.pack("<2I", r["x"], r["length"])
                assert F.RleRun(**r).to_bytes() == struct.pack("<2I", r["x"], r["length"])
    payload = rle_payload(stream)
    assert plain(K.from_bytes(payload)) == {"uncompressed_size": len(stream), "stream": model}


@given(label_images(max_label=0xFFFF))
def test_generated_mask_matches_nd2(mask: np.ndarray) -> None:
    # nd2 reads version-3 streams into uint16 (it assigns ids as Python ints, so ids
    # above 65535 would overflow there: labels are kept <= 65535)
    p = encode_rle_mask(mask)
    ref = decode_binary_mask(p[4:])
    ours = decode_rle_mask(p, dtype=np.uint16)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    assert np.array_equal(ours, ref)
    assert np.array_equal(decode_rle_mask(p), ref)


def test_short_payload_is_no_mask() -> None:
    # nd2 treats a payload of <= 4 bytes as "no mask" (format §6.1)
    for p in (b"", b"\x00", b"\x00\x00\x00\x00"):
        assert decode_rle_mask(p) is None


def test_empty_masks_are_valid_streams() -> None:
    for shape in ((0, 0), (0, 5), (3, 0), (4, 6)):
        p = encode_rle_mask(np.zeros(shape, np.uint16))
        assert len(p) > 4
        out = decode_rle_mask(p)
        assert out.shape == shape and not out.any()
        assert np.array_equal(decode_binary_mask(p[4:]), out)
        three_way_payload(p)


def test_pixel_cap_is_checked_before_allocating() -> None:
    # a 40-byte payload declaring a 65536 x 65536 mask must not allocate 16 GiB
    p = rle_payload(struct.pack("<7I", 3, 65536, 65536, 0, 0, 0, 0))
    tracemalloc.start()
    try:
        with pytest.raises(CorruptChunkError) as e:
            decode_rle_mask(p, base=100)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and isinstance(e.value.offset, int)
    assert 65536 * 65536 > rle.MAX_PIXELS


def test_spec_example() -> None:
    # the 6x4 example of format notes §6.1
    words = [3, 6, 4, 2, 120, 0x60, 0,
             1, 1, 0, 2, 1, 68, 2, 52, 0, 0, 1, 1, 2, 1, 1, 1, 2,
             2, 0, 3, 5, 3, 52, 1, 36, 0, 3, 1, 0, 6]
    stream = struct.pack(f"<{len(words)}I", *words)
    p = struct.pack("<I", 0x94) + zlib.compress(stream)
    want = np.zeros((4, 6), np.uint32)
    want[0:2, 1:3] = 1
    want[3, :] = 2
    assert np.array_equal(decode_rle_mask(p), want)
    assert np.array_equal(decode_binary_mask(p[4:]), want)
    three_way_payload(p)
    # our encoder writes exactly this stream for that mask
    assert zlib.decompress(encode_rle_mask(want)[4:]) == stream


# --------------------------------------------------------------------------- corpus


def _corpus_masks() -> list[Any]:
    out = []
    for p in corpus_files():
        buf = p.read_bytes()
        if buf[:4] != container.CHUNK_MAGIC_BYTES:
            continue
        _, cmap = container.read_chunk_map(buf)
        for name in cmap:
            if name.startswith("CustomDataSeq|RleZipBinarySequence"):
                out.append(pytest.param(p, name, id=f"{p.relative_to(CORPUS).as_posix()}:{name}"))
    return out


CORPUS_MASKS = _corpus_masks()


def _payload(path: Path, name: str) -> bytes:
    buf = path.read_bytes()
    _, cmap = container.read_chunk_map(buf)
    return bytes(container.chunk_data(buf, cmap, name)[1])


@pytest.mark.corpus
def test_corpus_has_spec_v3_masks(corpus_dir: Path) -> None:
    names = [p.id for p in CORPUS_MASKS if p.id.startswith("synthetic/spec_v3.nd2:")]
    assert names and all("CustomDataSeq|RleZipBinarySequence_1_v1|" in n for n in names)


@pytest.mark.corpus
@pytest.mark.parametrize(("path", "name"), CORPUS_MASKS)
def test_corpus_mask_all_decoders_agree(path: Path, name: str) -> None:
    p = _payload(path, name)
    three_way_payload(p)
    ours = decode_rle_mask(p)
    ref = decode_binary_mask(p[4:])
    assert np.array_equal(ours, ref)
    u16 = decode_rle_mask(p, dtype=np.uint16)
    assert u16.dtype == ref.dtype and np.array_equal(u16, ref)
    assert np.array_equal(decode_rle_mask(encode_rle_mask(ours)), ours)


@pytest.mark.parametrize("label,dtype", [(2**32 + 5, np.uint64), (-1, np.int16)])
def test_encode_rejects_labels_beyond_u32_with_value_error(label: int, dtype: Any) -> None:
    m = np.zeros((2, 3), dtype)
    m[0, 1] = label
    with pytest.raises(ValueError):
        encode_rle_mask(m)


@given(label_images(), st.sampled_from([2, 3]))
def test_encoder_size_fields_match_the_parsed_records(mask: np.ndarray, version: int) -> None:
    # the encoder computes object_bytes / last_row_offset / bytes_of_objects /
    # last_object_offset from the generated record sizes; the parser measures them
    payload = encode_rle_mask(mask, version=version)
    s = F.BinaryRle.parse(payload).stream
    assert s.header.version == version
    start = s.header._end_pos
    assert s.header.bytes_of_objects == (s.objects[-1]._end_pos - start if s.objects else 0)
    if s.objects:
        assert s.header.last_object_offset == s.objects[-1]._pos
    for obj in s.objects:
        assert obj.header.object_bytes == obj._end_pos - obj._pos
        assert obj.header.last_row_offset == obj.rows[-1]._pos - obj._pos
    kai = K(KaitaiStream(BytesIO(payload)))
    assert len(kai.stream.objects) == len(s.objects)
