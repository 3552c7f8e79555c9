"""Lazy frame location, batched ``read_frames``, the fast per-frame getter, the frame
payload codec and the one dask chunk-planning rule."""

from __future__ import annotations

import io
import math
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reader import CountingBytesIO, custom_file, file_chunks, rebuild

import nd2kit
from nd2kit.codecs import frame as fcodec
from nd2kit.codecs.container import build_file
from nd2kit.reader import open_reader
from nd2kit.reader.planning import plan_chunks, split
from nd2kit.storage import MmapStore, open_store
from nd2kit.testing.samples import sample_file_bytes, sample_frames

DATA = sample_file_bytes(t=6, z=2, channels=2, height=11, width=9)


def _sources(tmp_path: Path, data: bytes) -> list[object]:
    p = tmp_path / "f.nd2"
    p.write_bytes(data)
    return [p, data, io.BytesIO(data)]


# ----------------------------------------------------------------------------- frame codec


def test_pixels_follow_the_f64_timestamp() -> None:
    assert fcodec.PIXELS_AT == struct.calcsize("<d")
    payload = struct.pack("<d", 1234.5) + bytes(10)
    assert fcodec.timestamp(payload) == 1234.5
    assert fcodec.pixel_offset(4096) == 4096 + 8
    assert fcodec.payload_size(100) == 108
    np.testing.assert_array_equal(fcodec.pixel_offsets(np.array([10, -1, -2])), [18, -1, -2])


def test_timestamps_are_the_acquisition_times() -> None:
    """Frame timestamps equal the AcqTimesCache chunk the sample writer stores beside them."""
    r = open_reader(open_store(DATA))
    times = np.frombuffer(r.chunk_bytes("CustomData|AcqTimesCache!")[1], "<f8")
    ts = [fcodec.timestamp(r.store.read(int(o), 8)) for o in r.frame_data_offsets()]
    assert ts == times.tolist() and len(set(ts)) == 12


def test_inflate_pixels_errors_name_chunk_and_offset() -> None:
    good = struct.pack("<d", 0) + zlib.compress(bytes(range(20)))
    assert fcodec.inflate_pixels(good, 20, chunk="ImageDataSeq|0!", base=100) == bytes(range(20))
    with pytest.raises(nd2kit.CorruptChunkError, match="frame 0: inflates to 20 bytes") as ei:
        fcodec.inflate_pixels(good, 30, chunk="ImageDataSeq|0!", base=100, label="frame 0")
    assert ei.value.chunk == "ImageDataSeq|0!" and ei.value.offset == 108
    with pytest.raises(nd2kit.CorruptChunkError, match="bad zlib") as ei:
        fcodec.inflate_pixels(struct.pack("<d", 0) + b"garbage!", 5, chunk="X!", base=0)
    assert ei.value.offset == 8
    bomb = struct.pack("<d", 0) + zlib.compress(bytes(10_000_000))
    with pytest.raises(nd2kit.CorruptChunkError, match="inflates to more than 100 bytes"):
        fcodec.inflate_pixels(bomb, 100, chunk="X!", base=0)  # stops after nbytes + 1
    with pytest.raises(nd2kit.CorruptChunkError):
        fcodec.inflate_pixels(b"\0\0", 5, chunk="X!", base=0)  # shorter than the timestamp


# ----------------------------------------------------------------------------- lazy location


def test_one_frame_reads_only_its_own_header() -> None:
    fo = CountingBytesIO(DATA)
    r = open_reader(open_store(fo))
    chunk_offs = r.chunkmap.offsets[r.chunkmap.sequence("ImageDataSeq|")[1]].astype(int)
    fo.reset()
    np.testing.assert_array_equal(r.read_frame(5), open_reader(open_store(DATA)).read_frame(5))
    touched = {int(o) for o in chunk_offs if any(pos <= o < pos + n for pos, n in fo.reads)}
    assert touched == {int(chunk_offs[5])}


def test_mapped_frame_read_checks_one_header(tmp_path: Path) -> None:
    p = tmp_path / "f.nd2"
    p.write_bytes(DATA)
    r = open_reader(open_store(p))
    assert isinstance(r.store, MmapStore)
    r.read_frame(7)
    # found by name: no frame table built, one header checked
    assert r._frame_numbers is None and list(r._direct) == [7]  # type: ignore[attr-defined]
    r.frame_numbers()  # the table keeps what was checked, and nothing else
    known = r._data >= 0  # type: ignore[attr-defined]
    assert known.sum() == 1 and bool(known[7])
    offs = r.frame_data_offsets()  # all of them, on demand
    assert (offs >= 0).all() and int(offs[7]) == int(r._data[7])  # type: ignore[attr-defined]


def test_damaged_header_found_lazily() -> None:
    chunks = file_chunks(DATA)
    names = [c[0] for c in chunks]
    data = bytearray(DATA)
    r0 = open_reader(open_store(DATA))
    bad = int(r0.chunkmap["ImageDataSeq|3!"].offset)
    data[bad : bad + 4] = b"XXXX"  # no chunk magic
    for src in (bytes(data), io.BytesIO(bytes(data))):
        r = open_reader(open_store(src))
        assert r.has_frame(2) and not r.has_frame(3)
        with pytest.warns(UserWarning, match="missing"):
            z = r.read_frame(3)
        assert not z.any()
    assert "ImageDataSeq|3!" in names


# ----------------------------------------------------------------------------- read_frames


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [5, 2, 2, 11, 0], [11], list(range(12))[::-1]])
def test_read_frames_equals_read_frame(tmp_path: Path, order: list[int]) -> None:
    ref = open_reader(open_store(DATA))
    want = np.stack([ref.read_frame(i) for i in order])
    for src in _sources(tmp_path, DATA):
        r = open_reader(open_store(src))
        got = r.read_frames(order)
        assert got.flags.writeable and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
    assert open_reader(open_store(DATA)).read_frames([]).shape == (0,) + want.shape[1:]


def test_read_frames_batches_through_read_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    fo = CountingBytesIO(DATA)
    r = open_reader(open_store(fo))
    calls: list[int] = []
    real = r.store.read_ranges

    def spy(ranges, policy=None):  # type: ignore[no-untyped-def]
        calls.append(len(ranges))
        return real(ranges, policy)

    monkeypatch.setattr(r.store, "read_ranges", spy)
    got = r.read_frames(range(12))
    assert calls == [12, 12]  # the headers, then the pixel blocks: one call each
    np.testing.assert_array_equal(got, open_reader(open_store(DATA)).read_frames(range(12)))


def test_read_frames_compressed_and_missing() -> None:
    frames = sample_frames(4, 1, 1, 6, 5, "uint16")
    data = custom_file(frames, bits=16, pixel_type=1, compress=True)
    r = open_reader(open_store(data))
    np.testing.assert_array_equal(r.read_frames([3, 1]), frames[[3, 1]])
    gone = rebuild(DATA, drop={"ImageDataSeq|4!"})
    r = open_reader(open_store(gone))
    with pytest.warns(UserWarning, match="missing"):
        got = r.read_frames([3, 4, 5])
    ref = open_reader(open_store(DATA))
    np.testing.assert_array_equal(got[0], ref.read_frame(3))
    assert not got[1].any()
    np.testing.assert_array_equal(got[2], ref.read_frame(5))
    with pytest.raises(IndexError):
        r.read_frames([99])


def _uneven(data: bytes) -> bytes:
    """`data` rebuilt with padding chunks after some frames (frames unevenly spaced)."""
    items = []
    for k, item in enumerate(file_chunks(data)):
        items.append(item)
        if item[0].startswith("ImageDataSeq|") and k % 3 == 0:
            items.append((f"CustomData|Pad{k}!", bytes(5000 + 100 * k)))
    return build_file(items)


def test_read_frames_uneven_spacing() -> None:
    data = _uneven(DATA)
    ref = open_reader(open_store(DATA))
    r = open_reader(open_store(data))
    assert r.frame_spacing() is None
    np.testing.assert_array_equal(r.read_frames(range(12)), ref.read_frames(range(12)))


# ----------------------------------------------------------------------------- fast getter


@pytest.mark.parametrize("kw", [dict(channels=1), dict(channels=3), dict(height=1, width=6, channels=1),
                                dict(height=5, width=1, channels=2)])
def test_nd2file_read_frame_fast_path_matches_slow(tmp_path: Path, kw: dict[str, Any]) -> None:
    data = sample_file_bytes(t=3, z=1, **{"height": 7, "width": 5, **kw})
    p = tmp_path / "f.nd2"
    p.write_bytes(data)
    for src in (p, data):
        with nd2kit.ND2File(src) as f:
            assert f._fast_frame is not None
            for i in range(3):
                fast = f.read_frame(i)
                slow = f._transform(f._reader.read_frame(i))
                assert fast.shape == slow.shape and fast.strides == slow.strides
                np.testing.assert_array_equal(fast, slow)
                assert not fast.flags.writeable
            with pytest.raises(IndexError):
                f.read_frame(3)
    with nd2kit.ND2File(io.BytesIO(data)) as f:
        assert f._fast_frame is None  # no buffer: the general path
        np.testing.assert_array_equal(f.read_frame(1), nd2kit.ND2File(data).read_frame(1))


# ----------------------------------------------------------------------------- planning


@given(coord=st.lists(st.integers(0, 40), max_size=3), h=st.integers(1, 50), w=st.integers(1, 9),
       item=st.sampled_from([1, 2, 4]), target=st.integers(1, 100_000), rows=st.booleans())
@settings(max_examples=200, deadline=None)
def test_plan_chunks_properties(coord: list[int], h: int, w: int, item: int, target: int,
                                rows: bool) -> None:
    ch = plan_chunks(tuple(coord), (h, w), item, row_axis=0, target_bytes=target, split_rows=rows)
    assert tuple(sum(c) for c in ch) == tuple(coord) + (h, w)
    frame_bytes = h * w * item
    if all(coord):
        per = math.prod(max(c) for c in ch[: len(coord)])
        assert per * frame_bytes <= max(target, frame_bytes)
    if rows and frame_bytes > target:
        assert max(ch[-2]) * w * item <= max(target, w * item)
    else:
        assert ch[-2] == (h,)


def test_plan_chunks_many_frames_is_cheap() -> None:
    ch = plan_chunks((1_000_003,), (16, 16), 2, row_axis=0, target_bytes=128 << 20, split_rows=True)
    assert ch[0] == (250001,) * 3 + (1_000_003 - 3 * 250001,)  # 4 even chunks, never collapsing to 1
    assert split(10, 3) == (3, 3, 3, 1) and split(0, 5) == (0,)


def test_both_apis_plan_with_the_same_rule() -> None:
    import nd2kit.compat.nd2reader as n2r

    data = sample_file_bytes(t=40, z=5, channels=1, height=8, width=8)
    f = nd2kit.ND2File(data)
    r = n2r.Nd2Reader(data)
    d = r.delayedImageData()
    assert d.chunks == plan_chunks((40, 1, 5), (8, 8, 1), 2, row_axis=0,
                                   target_bytes=n2r._DASK_CHUNK_BYTES, split_rows=True)
    assert f._dask_chunks(640) == plan_chunks((40, 5), (8, 8), 2, row_axis=0, target_bytes=640,
                                              split_rows=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(d.compute()[:, 0, :, :, :, 0], f.asarray())


def test_read_frames_uneven_with_missing_frames_and_padding() -> None:
    # rows padded to 4 bytes (width 5 x uint8 x 1: 3 padding bytes a row) and a frame gone
    base = sample_file_bytes(t=4, z=2, height=6, width=5, channels=1, dtype="uint8")
    data = _uneven(rebuild(base, drop=("ImageDataSeq|5!",)))
    ref = open_reader(open_store(base))
    r = open_reader(open_store(data))
    assert r.frame_spacing() is None  # type: ignore[attr-defined]
    with pytest.warns(UserWarning, match="missing"):
        got = r.read_frames([7, 5, 0, 1, 2, 6])
    for j, i in enumerate([7, 5, 0, 1, 2, 6]):
        np.testing.assert_array_equal(got[j], 0 if i == 5 else ref.read_frame(i))


def test_read_frames_uneven_any_order_and_stores(tmp_path: Path) -> None:
    data = _uneven(DATA)
    p = tmp_path / "uneven.nd2"
    p.write_bytes(data)
    ref = open_reader(open_store(DATA))
    want = ref.read_frames(range(12))
    for src in (data, p, io.BytesIO(data)):
        r = open_reader(open_store(src))
        assert r.frame_spacing() is None  # type: ignore[attr-defined]
        for order in ([11, 0, 5, 6, 7, 8, 2], list(range(12)), [3, 3, 4]):
            np.testing.assert_array_equal(r.read_frames(order), want[order])


def test_nd2file_asarray_uneven_matches_nd2(tmp_path: Path) -> None:
    nd2 = pytest.importorskip("nd2")
    for kw in (dict(channels=2), dict(channels=1, rgb=True, dtype="uint8")):
        data = _uneven(sample_file_bytes(t=4, z=3, height=9, width=7, **kw))  # type: ignore[arg-type]
        p = tmp_path / "u.nd2"
        p.write_bytes(data)
        with nd2.ND2File(p) as a, nd2kit.ND2File(p) as b:
            assert b._reader.frame_spacing() is None  # type: ignore[attr-defined]
            want = a.asarray()
            got = b.asarray()
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_array_equal(got, want[..., ::-1] if b.is_rgb else want)
            per_frame = np.stack([b.read_frame(i) for i in range(12)]).reshape(got.shape)
            np.testing.assert_array_equal(got, per_frame)
            got[...] = 0  # a fresh writable array, not a view of the file
            assert b.read_frame(0).any()


def test_nd2reader_image_fast_path(tmp_path: Path) -> None:
    p = tmp_path / "f.nd2"
    p.write_bytes(DATA)
    for src in (p, DATA):
        with nd2kit.Nd2Reader(src) as f:
            assert f._fast_image is not None
            for i in range(12):
                fast = f.image(i)
                assert not fast.flags.writeable
                np.testing.assert_array_equal(fast, f._reader.read_frame(i))
            np.testing.assert_array_equal(f.image(np.int64(3)), f._reader.read_frame(3))
            with pytest.raises(ValueError):
                f.image(-1)
            with pytest.raises(ValueError):
                f.image(True)
            with pytest.raises(IndexError):
                f.image(12)
        with pytest.raises(ValueError, match="closed"):
            f.image(0)
        assert "_fast_image" not in f.__dict__
