"""codecs/custom_data.py (spec/custom_data.ksy): caches, the camera matrix, pyramid
levels and zipped JSON against the official Kaitai compiler's python target, the
construct target where the manifest allows it, struct/zlib/json and nd2 0.12."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from conftest import corpus_files
from hypothesis import given
from hypothesis import strategies as st
from kaitaistruct import BytesIO, KaitaiStream
from nd2kit._generated.kaitai.custom_data import CustomData as K

from nd2kit import CorruptChunkError
from nd2kit.codecs import container, names
from nd2kit.codecs import custom_data as cd
from nd2kit.errors import Nd2Error
from nd2kit.testing.strategies import construct_module, construct_usable

SPEC = "custom_data"
C = construct_module(SPEC)

_f64 = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _bits(a: Any) -> list[int]:
    return np.asarray(a, dtype="<f8").view("<u8").tolist()


def _ks(cls: Any, raw: bytes, *args: Any) -> Any:
    return cls(*args, KaitaiStream(BytesIO(raw)))


@given(st.lists(_f64, max_size=64))
def test_f8_array_round_trip_and_oracles(values: list[float]) -> None:
    raw = cd.encode_f8_array(values)
    assert raw == struct.pack(f"<{len(values)}d", *values)
    got = cd.decode_f8_array(raw)
    assert _bits(got) == _bits(values)
    k = _ks(K.F8Array, raw)
    assert _bits(k.values) == _bits(values) and k.rest == b""
    assert not got.flags.writeable or isinstance(raw, bytearray)


@given(st.binary(max_size=80), st.integers(0, 2**40))
def test_f8_array_bad_size_names_chunk_and_offset(raw: bytes, base: int) -> None:
    if len(raw) % 8 == 0:
        assert len(cd.decode_f8_array(raw, base=base)) == len(raw) // 8
        return
    with pytest.raises(CorruptChunkError) as ei:
        cd.decode_f8_array(raw, base=base)
    assert ei.value.chunk == names.ACQ_TIMES_CACHE
    assert ei.value.offset == base + len(raw) // 8 * 8
    # the reference parser reads the same whole values and leaves the same bytes over
    k = _ks(K.F8Array, raw)
    assert len(k.values) == len(raw) // 8 and len(k.rest) == len(raw) % 8


@given(st.lists(st.integers(-2**31, 2**31 - 1), max_size=64), st.binary(max_size=3))
def test_i4_array_decodes_and_oracles(values: list[int], tail: bytes) -> None:
    """``CustomData|PFS_STATUS!`` and integer recorded-data columns: signed i32."""
    raw = struct.pack(f"<{len(values)}i", *values)
    assert cd.decode_i4_array(raw).tolist() == values
    assert _ks(K.I4Array, raw).values == values
    if tail:
        with pytest.raises(CorruptChunkError) as ei:
            cd.decode_i4_array(raw + tail, chunk=names.PFS_STATUS, base=9)
        assert (ei.value.chunk, ei.value.offset) == (names.PFS_STATUS, 9 + len(raw))


@given(st.lists(st.integers(0, 2**32 - 1), max_size=64), st.binary(max_size=3))
def test_u4_array_round_trip_and_oracles(values: list[int], tail: bytes) -> None:
    raw = cd.encode_u4_array(values)
    assert raw == struct.pack(f"<{len(values)}I", *values)
    assert cd.decode_u4_array(raw).tolist() == values
    assert _ks(K.U4Array, raw).values == values
    if tail:
        with pytest.raises(CorruptChunkError) as ei:
            cd.decode_u4_array(raw + tail, chunk=names.ACQ_FRAMES_CACHE, base=7)
        assert (ei.value.chunk, ei.value.offset) == (names.ACQ_FRAMES_CACHE, 7 + len(raw))


@given(st.tuples(_f64, _f64, _f64, _f64))
def test_camera_matrix_round_trip_and_oracles(m: tuple[float, float, float, float]) -> None:
    raw = cd.encode_camera_matrix(m)
    assert raw == struct.pack("<4d", *m)
    got = cd.decode_camera_matrix(raw)
    assert got is not None and _bits(got) == _bits(m)
    assert all(type(v) is float for v in got)
    assert _bits(_ks(K.CameraMatrix, raw).elements) == _bits(m)
    assert construct_usable(SPEC, "custom_data__camera_matrix")
    parsed = C.custom_data__camera_matrix.parse(raw)
    assert _bits(list(parsed.elements)) == _bits(m)
    assert C.custom_data__camera_matrix.build(parsed) == raw


@given(st.binary(max_size=40).filter(lambda b: len(b) != 32))
def test_camera_matrix_wrong_size(raw: bytes) -> None:
    assert cd.decode_camera_matrix(raw) is None
    with pytest.raises(CorruptChunkError) as ei:
        cd.decode_camera_matrix(raw, strict=True, chunk="ImageMetadataSeqLV|0!", base=3)
    assert (ei.value.chunk, ei.value.offset) == ("ImageMetadataSeqLV|0!", 3)


def test_camera_matrix_none_and_encode_checks() -> None:
    assert cd.decode_camera_matrix(None) is None
    with pytest.raises(ValueError):
        cd.encode_camera_matrix([1.0, 2.0, 3.0])


@given(st.integers(0, 8), st.integers(0, 16), st.binary(max_size=4), st.data())
def test_downsampled_round_trip_and_oracles(h: int, wb: int, pad: bytes, data: st.DataObject) -> None:
    pixels = data.draw(st.binary(min_size=h * wb, max_size=h * wb))
    raw = cd.encode_downsampled(pixels, h, wb)
    assert raw == pixels
    assert bytes(cd.decode_downsampled(raw + pad, h, wb)) == pixels
    k = _ks(K.DownsampledFrame, raw + pad, h, wb)
    assert (k.pixels, k.padding) == (pixels, pad)
    # no construct oracle: its target cannot see type parameters (this.height fails)
    if h * wb:
        with pytest.raises(CorruptChunkError) as ei:
            cd.decode_downsampled(raw[:-1], h, wb, chunk="L", base=100)
        assert (ei.value.chunk, ei.value.offset) == ("L", 100)


def test_downsampled_is_zero_copy() -> None:
    buf = bytearray(range(12))
    view = cd.decode_downsampled(memoryview(buf), 2, 5)
    buf[0] = 99
    assert bytes(view)[0] == 99 and len(view) == 10


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=12)


@given(_json)
def test_zipped_json_round_trip_and_oracles(value: Any) -> None:
    raw = cd.encode_zipped_json(value)
    assert json.loads(zlib.decompress(raw).decode("utf-8")) == value
    assert cd.decode_zipped_json(raw) == value
    assert json.loads(_ks(K.ZippedJson, raw).json.decode("utf-8")) == value
    # no construct oracle: its target renders `process: zlib` on raw bytes as GreedyBytes


@pytest.mark.parametrize("raw, what", [
    (b"", "JSON"), (b"\x78\x9c\x00", ""), (b"not zlib", "zlib"),
    (zlib.compress(b"\xff\xfe"), "UTF-8"), (zlib.compress(b"{"), "JSON"),
])
def test_zipped_json_errors(raw: bytes, what: str) -> None:
    with pytest.raises(CorruptChunkError) as ei:
        cd.decode_zipped_json(raw, base=4096)
    assert ei.value.chunk == names.WELLPLATE_FRAME_INFO
    assert ei.value.offset == 4096
    assert what in str(ei.value)


def test_zipped_json_inflate_is_capped() -> None:
    from nd2kit._generated.fast._runtime import MAX_INFLATE

    z = zlib.compressobj(1)
    block = bytes(1 << 20)
    bomb = b"".join(z.compress(block) for _ in range(MAX_INFLATE // len(block) + 1)) + z.flush()
    with pytest.raises(CorruptChunkError, match="more than"):
        cd.decode_zipped_json(bomb)


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_acq_times_match_nd2(path: Any) -> None:
    import nd2

    buf = path.read_bytes()
    try:
        if container.sniff_version(buf)[0] < 3:
            return
        _, cmap = container.read_chunk_map(buf)
        if names.ACQ_TIMES_CACHE not in cmap:
            return
        info, payload = container.chunk_data(buf, cmap, names.ACQ_TIMES_CACHE)
    except Nd2Error:
        return
    try:
        ours = cd.decode_f8_array(payload, base=info.data_offset)
    except CorruptChunkError as e:
        assert e.offset is not None and info.data_offset <= e.offset < info.end
        return
    with nd2.ND2File(path) as f:
        ref = f._rdr._cached_frame_times()  # nd2's own reading of the cache
    n = len(ref)
    assert _bits(ours[:n]) == _bits(ref)
